"""What ``gallery upload`` draws: one rich progress display, then a summary table.

The display has two overall rows (bytes sent of all files; files finished processing) and a
row per file in flight: its bytes while sending, then "processing" until the photo is ready
or failed. With many files, finished rows leave the display (the summary lists them all).
On a non-terminal (a pipe, a test) rich prints the final display once, as plain text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rich import filesize
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from gallery.output import human_bytes, safe
from gallery.tables import Column, table

# Outcomes of one file, in the order the summary lists them.
OUTCOMES = ("ready", "duplicate", "failed", "rejected", "not ready", "interrupted", "skipped")
STYLE = {
    "ready": "green",
    "duplicate": "blue",
    "failed": "red",
    "rejected": "red",
    "skipped": "dim",
}
SENT = frozenset({"ready", "duplicate", "failed", "rejected", "not ready", "interrupted"})
KEEP_FINISHED_ROWS = 20


class AmountColumn(DownloadColumn):
    """Bytes for byte rows; ``n/N files`` for the row counting processed files."""

    def render(self, task: Task) -> Text:
        if task.fields.get("unit") == "files":
            return Text(
                f"{task.completed:.0f}/{task.total or 0:.0f} files", style="progress.download"
            )
        return super().render(task)


# Below this a rate says nothing: a 300 KB photo sent over loopback in 2 ms, or two progress
# callbacks a microsecond apart (rich's own estimate divides by that gap), read as GB/s.
MIN_RATE_SECONDS = 1.0


class SpeedColumn(TransferSpeedColumn):
    """Bytes sent in this run over the time since the row started (``base``: where a resumed
    upload picked up, not sent now); blank for the first second and for the files row."""

    def render(self, task: Task) -> Text:
        if task.fields.get("unit") == "files":
            return Text("")
        speed = rate(
            task.completed - task.fields.get("base", 0), task.finished_time or task.elapsed
        )
        if speed is None:
            return Text("")
        return Text(f"{filesize.decimal(int(speed))}/s", style="progress.data.speed")


def rate(sent: float, seconds: float | None) -> float | None:
    """Bytes per second over ``seconds``; None under :data:`MIN_RATE_SECONDS` or when nothing
    was sent (no figure rather than a nonsense one)."""
    if seconds is None or seconds < MIN_RATE_SECONDS or sent <= 0:
        return None
    return sent / seconds


@dataclass
class FileResult:
    path: Path
    size: int
    outcome: str = "interrupted"
    image_id: str | None = None
    reason: str = ""
    via: str = "post"  # "tus", or "-" for a skipped file
    resumed_from: int = 0
    retryable: bool = False  # rejected because the gateway could not be reached
    sidecar_of: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # a sidecar's fields

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "path": str(self.path),
            "bytes": self.size,
            "outcome": self.outcome,
            "image_id": self.image_id,
            "reason": self.reason or None,
            "via": self.via,
            "resumed_from": self.resumed_from,
        }
        if self.sidecar_of is not None:
            document["sidecar_of"] = str(self.sidecar_of)
            document["metadata"] = self.metadata
        return document


class Display(Protocol):
    """What the uploader reports to: the live display, or a watch's silence."""

    def sending(self, result: FileResult) -> None: ...
    def sent_bytes(self, path: Path, count: int) -> None: ...
    def processing(self, path: Path) -> None: ...
    def finished(self, result: FileResult) -> None: ...


class UploadDisplay:
    """The live display; methods are called from the upload tasks (one event loop)."""

    def __init__(
        self,
        console: Console,
        files: int,
        total_bytes: int,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.progress = Progress(
            TextColumn("{task.description}", style="bold"),
            BarColumn(),
            AmountColumn(),
            SpeedColumn(),
            TextColumn("{task.fields[state]}"),
            TimeElapsedColumn(),
            console=console,
            get_time=clock,
        )
        self.files = files
        self.sent = self.progress.add_task("sent", total=total_bytes, state=f"{files} file(s)")
        self.done = self.progress.add_task("processed", total=files, state="", unit="files")
        self.rows: dict[Path, TaskID] = {}
        self.bytes: dict[Path, int] = {}
        self.resumed = 0  # bytes resumed uploads had sent before this run

    def __enter__(self) -> UploadDisplay:
        self.progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.progress.stop()

    def sending(self, result: FileResult) -> None:
        self.rows[result.path] = self.progress.add_task(
            result.path.name[:40], total=result.size, state=f"sending ({result.via})"
        )

    def sent_bytes(self, path: Path, count: int) -> None:
        if count and path not in self.bytes:  # a tus upload picked up where it stopped
            self.progress.update(
                self.rows[path], state=f"resumed at {human_bytes(count)}", base=count
            )
            self.resumed += count
            self.progress.update(self.sent, base=self.resumed)
        self.bytes[path] = count
        self.progress.update(self.rows[path], completed=count)
        self.progress.update(self.sent, completed=sum(self.bytes.values()))

    def processing(self, path: Path) -> None:
        self.progress.update(self.rows[path], state="processing")

    def finished(self, result: FileResult) -> None:
        row = self.rows.get(result.path)
        if row is not None:
            style = STYLE.get(result.outcome, "yellow")
            self.progress.update(row, state=f"[{style}]{result.outcome}[/]")
            if self.files > KEEP_FINISHED_ROWS:
                self.progress.remove_task(row)
        self.progress.advance(self.done)


def summary_table(results: list[FileResult], width: int) -> Table:
    columns = [
        Column("file"),
        Column("size", fixed=True, justify="right"),
        Column("result", fixed=True),
        Column("image id", fixed=True),
        Column("reason"),
    ]
    rows = []
    for result in sorted(results, key=lambda r: (OUTCOMES.index(r.outcome), str(r.path))):
        style = STYLE.get(result.outcome, "yellow")
        rows.append(
            [
                safe(result.path),
                human_bytes(result.size),
                f"[{style}]{result.outcome}[/]",
                result.image_id or "-",
                safe(result.reason),
            ]
        )
    return table(columns, rows, width, title="upload summary")


def totals_line(results: list[FileResult]) -> str:
    """``3 file(s): 2 ready, 1 duplicate, 0 failed, 0 rejected[, 1 not ready, ...]``."""
    counts = Counter(r.outcome for r in results)
    always = ("ready", "duplicate", "failed", "rejected")
    parts = [f"{counts[o]} {o}" for o in always]
    parts += [f"{counts[o]} {o}" for o in OUTCOMES if o not in always and counts[o]]
    return f"{len(results)} file(s): " + ", ".join(parts)
