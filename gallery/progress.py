"""What ``gallery upload`` draws: one rich progress display, then a summary table.

The display has two overall rows (bytes sent of all files; files finished processing) and a
row per file in flight: its bytes while sending, then "processing" until the photo is ready
or failed. With many files, finished rows leave the display (the summary lists them all).
On a non-terminal (a pipe, a test) rich prints the final display once, as plain text.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

from gallery import output

# Outcomes of one file, in the order the summary lists them.
OUTCOMES = ("ready", "duplicate", "failed", "rejected", "not ready", "interrupted")
STYLE = {"ready": "green", "duplicate": "blue", "failed": "red", "rejected": "red"}
KEEP_FINISHED_ROWS = 20


class AmountColumn(DownloadColumn):
    """Bytes for byte rows; ``n/N files`` for the row counting processed files."""

    def render(self, task: Task) -> Text:
        if task.fields.get("unit") == "files":
            return Text(
                f"{task.completed:.0f}/{task.total or 0:.0f} files", style="progress.download"
            )
        return super().render(task)


class SpeedColumn(TransferSpeedColumn):
    def render(self, task: Task) -> Text:
        return Text("") if task.fields.get("unit") == "files" else super().render(task)


@dataclass
class FileResult:
    path: Path
    size: int
    outcome: str = "interrupted"
    image_id: str | None = None
    reason: str = ""
    via: str = "post"
    resumed_from: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "bytes": self.size,
            "outcome": self.outcome,
            "image_id": self.image_id,
            "reason": self.reason or None,
            "via": self.via,
            "resumed_from": self.resumed_from,
        }


class UploadDisplay:
    """The live display; methods are called from the upload tasks (one event loop)."""

    def __init__(self, console: Console, files: int, total_bytes: int) -> None:
        self.progress = Progress(
            TextColumn("{task.description}", style="bold"),
            BarColumn(),
            AmountColumn(),
            SpeedColumn(),
            TextColumn("{task.fields[state]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.files = files
        self.sent = self.progress.add_task("sent", total=total_bytes, state=f"{files} file(s)")
        self.done = self.progress.add_task("processed", total=files, state="", unit="files")
        self.rows: dict[Path, TaskID] = {}
        self.bytes: dict[Path, int] = {}

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


def summary_table(results: list[FileResult]) -> Table:
    table = Table(title="upload summary", title_justify="left")
    for column in ("file", "size", "result", "image id", "reason"):
        table.add_column(column, no_wrap=column != "reason")
    for result in sorted(results, key=lambda r: (OUTCOMES.index(r.outcome), str(r.path))):
        style = STYLE.get(result.outcome, "yellow")
        table.add_row(
            output.cell(result.path),
            f"{result.size:,}",
            Text(result.outcome, style=style),
            output.cell(result.image_id or "-"),
            output.cell(result.reason),
        )
    return table


def totals_line(results: list[FileResult]) -> str:
    """``3 file(s): 2 ready, 1 duplicate, 0 failed, 0 rejected[, 1 not ready, ...]``."""
    counts = Counter(r.outcome for r in results)
    always = ("ready", "duplicate", "failed", "rejected")
    parts = [f"{counts[o]} {o}" for o in always]
    parts += [f"{counts[o]} {o}" for o in OUTCOMES if o not in always and counts[o]]
    return f"{len(results)} file(s): " + ", ".join(parts)
