"""Exit codes of the ``gallery`` command, for scripts (also in the README).

| code | meaning |
| --- | --- |
| 0 | done: every photo ready or already there (other files skipped), the listing was read |
| 1 | done, but some of the work failed: a file was rejected, failed or is not ready in time |
| 2 | the command line or the configuration is wrong (bad flag, unknown setting, refused key) |
| 3 | a service did not answer: gateway, NATS, catalog, metrics, Prometheus |
| 4 | the thing named does not exist (``gallery show ID``) |
| 130 | interrupted (Ctrl-C); an interrupted tus upload resumes with the same command |
"""

from __future__ import annotations

from pipeline.domain.errors import (
    ConfigurationError,
    DependencyError,
    InputError,
    NotFound,
    PipelineError,
    Unauthorized,
)

OK = 0
PARTIAL = 1
USAGE = 2
UNAVAILABLE = 3
NOT_FOUND = 4
INTERRUPTED = 130


def for_error(exc: BaseException) -> int:
    """The exit code for an error that ended a command."""
    if isinstance(exc, NotFound):
        return NOT_FOUND
    if isinstance(exc, DependencyError | ConnectionError | TimeoutError):
        return UNAVAILABLE
    if isinstance(exc, ConfigurationError | Unauthorized | InputError | FileNotFoundError):
        return USAGE
    if isinstance(exc, PipelineError):
        return PARTIAL
    return PARTIAL
