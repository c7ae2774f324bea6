"""Where the command line writes: tables and results on stdout, progress and notes on stderr.

rich draws tables, progress and colours on a terminal and plain text elsewhere (a pipe, a
test's capture), so the same output reads well in both; ``--json`` prints one JSON document
on stdout instead, for scripts.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from pipeline.domain.text import printable


def _width() -> int | None:
    # Captured output (tests, pipes) gets a wide fixed width so rows are not wrapped.
    return None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160


def stdout() -> Console:
    return Console(file=sys.stdout, width=_width(), highlight=False, soft_wrap=False)


def stderr() -> Console:
    return Console(file=sys.stderr, width=_width(), highlight=False, stderr=True)


def safe(value: object) -> str:
    """Text from a server or a file name as rich markup that prints it literally: control
    characters shown as escapes (no terminal escape or OSC-8 link runs), brackets escaped."""
    return escape(printable(str(value)))


def cell(value: object) -> Text:
    """Text from a server or a file name, for a table: control characters shown as escapes
    (no terminal escape or OSC-8 link runs) and never read as rich markup."""
    return Text(printable(str(value)))


def print_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()


def human_bytes(size: float | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def timestamp(value: object) -> str:
    """``2026-12-07 20:59:35`` from the API's ISO 8601 (``-`` when absent)."""
    return str(value)[:19].replace("T", " ") if value else "-"
