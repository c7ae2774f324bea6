"""``--after TENANT:SEQ`` of the commands that walk the library (reconcile, backfill).

A walk over a million photos takes minutes; when it stops (a backend outage, Ctrl-C) the
command prints where, and the same command with ``--after`` goes on from there instead of
starting over.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from pipeline.domain.models import WalkPosition
from pipeline.services.walk import WalkState, format_position, parse_position


def add_after(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--after",
        type=_position,
        default=None,
        metavar="TENANT:SEQ",
        help="go on with a walk that stopped there (the command prints it when it stops)",
    )


def _position(text: str) -> WalkPosition:
    try:
        return parse_position(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@contextlib.contextmanager
def resumable(command: str, state: WalkState) -> Iterator[None]:
    """Run a walk; when it stops before its end, say on stderr how to go on from there."""
    try:
        yield
    except BaseException:
        position = state.position
        if not state.done and position is not None and position.tenant:
            print(
                f"\n{command} stopped; to go on from there: "
                f"gallery {command} --after {format_position(position)}",
                file=sys.stderr,
            )
        raise
