"""``gallery reconcile [--dry-run]``: make the object store and the catalog agree again.

Finds objects without a document (deleted) and documents without their objects (original
gone: the image fails with the reason; renditions gone: rendered again), leaves anything
younger than ``GALLERY_RECONCILE_MIN_AGE_SECONDS`` alone, and prints the counts per kind.
``--dry-run`` only counts; ``--after TENANT:SEQ`` goes on with a walk that stopped (it
prints where). Exit code 0 when the pass completed (whatever it found), 3 when
a backend did not answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from gallery import exitcodes
from gallery.options import add_data_dir, backend_settings
from gallery.resume import add_after, resumable
from pipeline.domain.models import WalkPosition
from pipeline.runtime.settings import Settings
from pipeline.services.walk import WalkState


def add_parser(sub: Any) -> None:
    reconcile = sub.add_parser(
        "reconcile",
        help="remove objects without a document, fail or re-render documents without objects",
    )
    reconcile.add_argument("--dry-run", action="store_true", help="only count, change nothing")
    reconcile.add_argument("--json", action="store_true", help="print the counts as JSON")
    add_after(reconcile)
    add_data_dir(reconcile)


def run(args: argparse.Namespace) -> int:
    settings = backend_settings(args)
    counts = asyncio.run(_reconcile(settings, dry_run=args.dry_run, after=args.after))
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "counts": counts}))
        return exitcodes.OK
    verb = "would fix" if args.dry_run else "fixed"
    print(f"reconcile ({'dry run' if args.dry_run else 'applied'}):")
    for kind, count in counts.items():
        label = kind.replace("_", " ")
        note = "" if kind.startswith("skipped") else f"  ({verb})"
        print(f"  {label:<22} {count:>6}{note if count else ''}")
    return exitcodes.OK


def _show(walked: int, total: int) -> None:
    print(f"\rreconcile: {walked}/{total} image(s) checked", end="", file=sys.stderr, flush=True)


async def _reconcile(
    settings: Settings, *, dry_run: bool, after: WalkPosition | None
) -> dict[str, int]:
    # Imported here: the adapters load nats-py, pymongo and aioboto3, which `--help` and
    # the other commands do not need.
    from pipeline.bootstrap import open_backends, reconcile_service

    state = WalkState()
    async with open_backends(settings, name="gallery-reconcile") as backends:
        service = reconcile_service(backends, settings, _show)
        with resumable("reconcile", state):
            report = await service.run(dry_run=dry_run, after=after, state=state)
    print(file=sys.stderr)
    return report.as_dict()
