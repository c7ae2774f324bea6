"""Where a running ``gallery up`` listens, so every ``gallery`` command finds it from anywhere.

``gallery up`` writes ``<data dir>/stack.json`` once everything is ready, and the same
document to a per-user file (``$XDG_STATE_HOME/gallery-pipeline/stack.json``, by default
``~/.local/state/...``, mode 0600, like the upload resume state in ``~/.cache``); it removes
both on stop. :func:`find` reads ``--data-dir``'s when one is given, else ``./.gallery``'s,
else the per-user one: ``gallery status``, ``upload``, ``keys`` and the rest then reach the
stack from any folder. A file left by a killed ``gallery up`` names a pid that is gone and
counts as no stack.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.domain.errors import ConfigurationError

FILE_NAME = "stack.json"
DEFAULT_DATA_DIR = Path(".gallery")


def user_file() -> Path:
    """The per-user pointer to the running ``gallery up`` (XDG base directory spec)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "gallery-pipeline" / FILE_NAME


@dataclass(frozen=True)
class Endpoint:
    """One process's metrics endpoint: ``role`` is ``gateway`` or ``worker``."""

    name: str
    role: str
    metrics_url: str


@dataclass(frozen=True)
class StackFile:
    pid: int
    gateway_url: str
    nats_url: str
    nats_monitoring_url: str
    mongo_uri: str
    endpoints: list[Endpoint] = field(default_factory=list)
    data_dir: str = ""  # absolute; holds ``api-key`` and the logs
    # The GALLERY_ settings its gateway and workers run with (store root, servers' URLs):
    # `gallery reconcile`, `backfill`, `dlq` and `keys` use them to reach the same backends.
    settings_env: dict[str, str] = field(default_factory=dict)

    @property
    def api_key_file(self) -> Path:
        return Path(self.data_dir) / "api-key"

    def write(self, data_dir: Path) -> Path:
        """Writes ``<data_dir>/stack.json`` and the per-user pointer; returns the first."""
        path = data_dir / FILE_NAME
        _write(path, self)
        # A read-only home: the commands still find the stack from its folder.
        with contextlib.suppress(OSError):
            _write(user_file(), self)
        return path

    @classmethod
    def read(cls, data_dir: Path) -> StackFile:
        """Raises ConfigurationError when no ``gallery up`` runs on ``data_dir``."""
        return cls.load(data_dir / FILE_NAME)

    @classmethod
    def load(cls, path: Path) -> StackFile:
        """The stack a file describes; ConfigurationError when unreadable or not running."""
        try:
            raw = json.loads(path.read_text())
            endpoints = [Endpoint(**e) for e in raw.pop("endpoints")]
            stack = cls(**raw, endpoints=endpoints)
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigurationError(
                f"no running `gallery up` found at {path} ({exc}); start one with `make up`, "
                "or pass --data-dir, or --nats and --metrics / --prometheus"
            ) from exc
        if not _alive(stack.pid):
            raise ConfigurationError(f"the `gallery up` of {path} (pid {stack.pid}) is not running")
        return stack


def find(data_dir: Path | None = None) -> StackFile | None:
    """The running ``gallery up``: of ``data_dir`` when given (errors propagate), else of
    ``./.gallery``, else the one the per-user file names; None when none runs."""
    if data_dir is not None:
        return StackFile.read(data_dir)
    for path in (DEFAULT_DATA_DIR / FILE_NAME, user_file()):
        try:
            return StackFile.load(path)
        except ConfigurationError:
            continue
    return None


def remove(data_dir: Path) -> None:
    """Removes ``data_dir``'s file, and the per-user one when it names this same stack."""
    path = data_dir / FILE_NAME
    try:
        mine = json.loads(path.read_text()).get("pid")
        theirs = json.loads(user_file().read_text()).get("pid")
    except (OSError, ValueError, AttributeError):
        mine = theirs = None
    if mine is not None and mine == theirs:
        user_file().unlink(missing_ok=True)
    path.unlink(missing_ok=True)


def _write(path: Path, stack: StackFile) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # 0600: the file names the data folder that holds the API key, and the settings.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(json.dumps(asdict(stack), indent=2) + "\n")
    tmp.replace(path)  # readers never see half a file


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
