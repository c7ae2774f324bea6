"""Tables that fit any terminal: ids never cut, the widest column folded instead of hidden.

A ``fixed`` column (ids, states, sizes) keeps its longest cell's width, so an id is always
whole and can be pasted into the next command. When the rows are wider than the terminal
(``COLUMNS``, or its real width), the other columns give up width widest first, each down
to its longest word (at most ``MIN_FLEXIBLE`` cells): text wraps at spaces, long words such
as paths fold onto the next line. rich's own narrowing shrinks a column below its longest
word (a date broken mid-number) and, past that, cuts every column, ids included.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

Justify = Literal["left", "right", "center"]
MIN_FLEXIBLE = 10  # narrower than this a flexible column reads as noise...
LAST_RESORT = 3  # ...but still better than cutting an id


@dataclass(frozen=True)
class Column:
    header: str
    fixed: bool = False  # never wrapped or cut: ids, outcomes, counts
    justify: Justify = "left"


def table(
    columns: list[Column], rows: Iterable[list[str]], width: int, title: str | None = None
) -> Table:
    """Cells are rich markup; ``width`` is the console's (``console.width``)."""
    rows = list(rows)
    # A column empty in every row (no failures to note) is left out: its header alone
    # would take width the others need.
    keep = [i for i, c in enumerate(columns) if c.fixed or not rows or any(r[i] for r in rows)]
    columns = [columns[i] for i in keep]
    rows = [[row[i] for i in keep] for row in rows]
    plain = [[Text.from_markup(cell).plain for cell in row] for row in rows]
    widths = _fit(columns, plain, width - 2 * (len(columns) - 1))
    grid = Table(box=None, pad_edge=False, title=title, title_justify="left")
    for column, column_width in zip(columns, widths, strict=True):
        grid.add_column(
            column.header,
            width=column_width,
            no_wrap=column.fixed,
            overflow="fold",
            justify=column.justify,
        )
    for row in rows:
        grid.add_row(*row)
    return grid


def _fit(columns: list[Column], rows: list[list[str]], room: int) -> list[int]:
    natural, minimum = [], []
    for index, column in enumerate(columns):
        cells = [row[index] for row in rows] + [column.header]
        widest = max(cell_len(line) for cell in cells for line in cell.splitlines() or [""])
        natural.append(widest)
        if column.fixed:
            minimum.append(widest)
        else:
            word = max(cell_len(w) for cell in cells for w in cell.split() or [""])
            minimum.append(min(widest, max(word, cell_len(column.header)), MIN_FLEXIBLE))
    widths = list(natural)
    excess = sum(widths) - room
    for floor in (minimum, [natural[i] if c.fixed else LAST_RESORT for i, c in enumerate(columns)]):
        while excess > 0:
            shrinkable = [i for i, w in enumerate(widths) if w > floor[i]]
            if not shrinkable:
                break  # the fixed columns alone are wider: rich wraps the lines
            widest = max(shrinkable, key=lambda i: widths[i])
            widths[widest] -= 1
            excess -= 1
    return [max(w, 1) for w in widths]
