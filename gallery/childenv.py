"""The environment ``gallery up`` gives its gateway and workers.

Three layers, later ones win: ``gallery up``'s own defaults for one machine (two jobs
per worker process, a quicker sweeper), then every ``GALLERY_`` setting the user exported
(``GALLERY_RENDITIONS``, ``GALLERY_LIMITS_MAX_UPLOAD_BYTES``, ...), then what ``gallery up``
must own: ports, URLs, the store root and the embedded servers' addresses. A user's value
that an owned one replaces is reported, never dropped silently.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from pipeline.domain.errors import ConfigurationError
from pipeline.runtime.settings import ENV_PREFIX, SECTIONS, Settings, env_names

# Chosen for one machine; the user may set them otherwise.
# The command line's own variables (`gallery upload`, `ls`, ...): not settings of a process.
CLIENT_VARIABLES = frozenset({"GALLERY_URL", "GALLERY_API_KEY"})

UP_DEFAULTS = {
    # Two jobs per worker process: while one job fetches the original, writes renditions
    # and updates the catalog (I/O, ~20 % of a job's wall time), the other renders. With
    # one job per process the two cores sat idle 20 % of the time (bench.throughput on the
    # wallpapers: ratio to the ideal 0.78 -> 0.97, CPU per photo unchanged; docs/benchmarks.md).
    "GALLERY_WORKER_CONCURRENCY": "2",
    "GALLERY_SWEEPER_STALE_AFTER_SECONDS": "30",
}


@dataclass(frozen=True)
class ChildEnv:
    """The children's environment and what happened to the user's settings on the way."""

    env: dict[str, str]
    overridden: dict[str, tuple[str, str]] = field(default_factory=dict)  # name: (yours, used)
    ignored: list[str] = field(default_factory=list)  # GALLERY_ names that are no setting

    def report(self) -> list[str]:
        """Lines telling the user which of their variables had no effect, and why."""
        lines = [
            f"gallery up: {name}={yours!r} overridden by {used!r} (gallery up owns it)"
            for name, (yours, used) in sorted(self.overridden.items())
        ]
        lines += [f"gallery up: {name} is not a setting; not passed on" for name in self.ignored]
        return lines


def child_env(owned: Mapping[str, str], environ: Mapping[str, str] | None = None) -> ChildEnv:
    """Merge ``environ`` (default: this process's) with ``owned``; validate the result.

    Raises ConfigurationError naming every invalid setting, before anything starts.
    """
    environ = os.environ if environ is None else environ
    known = env_names()
    base = {k: v for k, v in environ.items() if not k.upper().startswith(ENV_PREFIX)}
    user = {k.upper(): v for k, v in environ.items() if k.upper() in known}
    ignored = sorted(
        k
        for k in environ
        if k.upper().startswith(ENV_PREFIX)
        and k.upper() not in known
        and k.upper() not in CLIENT_VARIABLES
    )
    overridden = {
        name: (user[name], value)
        for name, value in owned.items()
        if name in user and user[name] != value
    }
    settings_env = {**UP_DEFAULTS, **user, **owned}
    validate(settings_env)
    return ChildEnv({**base, **settings_env}, overridden, ignored)


def validate(settings_env: Mapping[str, str]) -> Settings:
    """Build the settings the children will build from ``settings_env`` (GALLERY_ names)."""
    top: dict[str, str] = {}
    sections: dict[str, dict[str, str]] = {}
    for name, value in settings_env.items():
        key = name[len(ENV_PREFIX) :].lower()
        section, _, field_name = key.partition("_")
        if section in SECTIONS and field_name:
            sections.setdefault(section, {})[field_name] = value
        else:
            top[key] = value
    try:
        return Settings.model_validate({**top, **sections})
    except ValidationError as exc:
        problems = [
            f"{ENV_PREFIX}{'_'.join(str(p) for p in error['loc'])}".upper() + f": {error['msg']}"
            for error in exc.errors()
        ]
        raise ConfigurationError("invalid settings:\n  " + "\n  ".join(problems)) from exc
