"""``gallery upload --watch FOLDER...``: keep importing photos as they appear, until Ctrl-C.

Every ``interval`` seconds the folders are collected again (gallery/folder.py: photos only,
hidden files left out). A new photo is sent once it has kept the same size and modification
time for one whole interval (a camera import or a copy still writing it is left alone until
it is finished). What was sent, and its outcome, is remembered per gateway in a JSON state
file (``~/.cache/gallery-pipeline/watched.json``, keyed by path, size and modification
time, like the tus resume state), so a restarted watch sends only what is new since; a file
that changes is sent again (the gateway answers ``duplicate`` for bytes it already has).
Each finished file prints one line (``--json``: one JSON object a line).

Polling rather than inotify: it works the same on every filesystem (network mounts, SD
cards, container bind mounts) and costs one directory walk per interval.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path

from gallery import output
from gallery.api import Api
from gallery.folder import Collection, collect
from gallery.progress import FileResult
from gallery.uploader import Uploader, UploadOptions, plan

DEFAULT_STATE_FILE = Path.home() / ".cache" / "gallery-pipeline" / "watched.json"
# Outcomes that end a file's story: sent again only when the file changes. "not ready" and
# "interrupted" are tried again on the next scan, as is "rejected" by an unreachable gateway.
FINAL = frozenset({"ready", "duplicate", "failed", "rejected"})


class WatchState:
    """Files already sent, per gateway: ``{gateway: {"path|size|mtime_ns": image id}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def key(path: Path) -> str:
        stat = path.stat()
        return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"

    def load(self, gateway: str) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        sent = data.get(gateway) if isinstance(data, dict) else None
        return {str(k): str(v) for k, v in sent.items()} if isinstance(sent, dict) else {}

    def save(self, gateway: str, sent: dict[str, str]) -> None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            data = {}
        data = data if isinstance(data, dict) else {}
        data[gateway] = sent
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.path)  # a Ctrl-C never leaves half a file


@dataclass(frozen=True)
class WatchOptions:
    interval: float = 2.0  # seconds between scans; a file must be unchanged for one
    state_file: Path = DEFAULT_STATE_FILE
    as_json: bool = False


async def watch(api: Api, folders: list[Path], upload: UploadOptions, opts: WatchOptions) -> None:
    """Runs until cancelled (Ctrl-C)."""
    state = WatchState(opts.state_file)
    sent = state.load(api.url)
    last_seen: dict[Path, str] = {}
    told: set[Path] = set()
    output.stderr().print(f"watching {', '.join(map(str, folders))} (Ctrl-C stops)")
    while True:
        found = collect(folders)
        _tell_skipped(found, told, opts.as_json)
        fresh = {p: k for p in found.photos if (k := _key(p)) and k not in sent}
        stable = [p for p, k in fresh.items() if last_seen.get(p) == k]
        last_seen = fresh
        if stable:
            results = plan(Collection(photos=stable), upload)
            await Uploader(api, upload, _Quiet()).run(results)
            for result in results:
                _tell(result, opts.as_json)
                if result.outcome in FINAL and not result.retryable:
                    sent[fresh[result.path]] = result.image_id or ""
            state.save(api.url, sent)
        await asyncio.sleep(opts.interval)


def _key(path: Path) -> str | None:
    try:
        return WatchState.key(path)
    except OSError:
        return None  # gone between the walk and now


def _tell(result: FileResult, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.as_json()), flush=True)
    else:
        note = f"  {result.reason}" if result.reason else ""
        print(f"{result.outcome:<10} {result.image_id or '-':<26} {result.path}{note}", flush=True)


def _tell_skipped(found: Collection, told: set[Path], as_json: bool) -> None:
    for item in found.skipped:
        if item.path in told:
            continue
        told.add(item.path)
        result = FileResult(item.path, 0, outcome="skipped", reason=item.reason, via="-")
        _tell(result, as_json)


class _Quiet:
    """The uploader's display, silent: a watch prints one line per finished file instead."""

    def sending(self, result: FileResult) -> None:
        pass

    def sent_bytes(self, path: Path, count: int) -> None:
        pass

    def processing(self, path: Path) -> None:
        pass

    def finished(self, result: FileResult) -> None:
        pass
