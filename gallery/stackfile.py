"""Where a running ``gallery up`` listens, kept in its data folder for ``gallery status``.

``gallery up`` writes ``<data dir>/stack.json`` once everything is ready and removes it on
stop; ``gallery status --data-dir`` reads it to find the NATS server and the processes'
``/metrics`` endpoints. A file left by a killed ``gallery up`` names a pid that is gone.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.domain.errors import ConfigurationError

FILE_NAME = "stack.json"


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

    def write(self, data_dir: Path) -> Path:
        path = data_dir / FILE_NAME
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)  # readers never see half a file
        return path

    @classmethod
    def read(cls, data_dir: Path) -> StackFile:
        """Raises ConfigurationError when no ``gallery up`` runs on ``data_dir``."""
        path = data_dir / FILE_NAME
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"no running `gallery up` found in {data_dir} ({path} unreadable: {exc}); "
                "pass --data-dir, or --nats and --metrics / --prometheus"
            ) from exc
        endpoints = [Endpoint(**e) for e in raw.pop("endpoints")]
        stack = cls(**raw, endpoints=endpoints)
        if not _alive(stack.pid):
            raise ConfigurationError(f"the `gallery up` of {path} (pid {stack.pid}) is not running")
        return stack


def remove(data_dir: Path) -> None:
    (data_dir / FILE_NAME).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
