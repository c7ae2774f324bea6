"""The ``gallery`` command: gateway, worker, the local stack, uploads and API keys."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from gallery import exitcodes, output
from gallery.commands import albums, images, keys, reconcile, remove, shares, status, upload, usage
from gallery.options import add_data_dir, backend_settings
from gallery.resume import add_after, resumable
from pipeline.domain.errors import PipelineError
from pipeline.domain.messages import StoredDeadLetter
from pipeline.domain.models import WalkPosition
from pipeline.runtime.process import configure_logging
from pipeline.runtime.settings import Settings, load_settings
from pipeline.services.walk import WalkState

SERVERS = ("gateway", "worker")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gallery", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("gateway", help="serve the HTTP API (port 8080) and metrics (9100)")
    sub.add_parser("worker", help="render images from the JetStream render consumer")

    up = sub.add_parser("up", help="run the whole pipeline on this machine (embedded servers)")
    up.add_argument("--data-dir", type=Path, default=Path(".gallery"))
    up.add_argument("--port", type=int, default=8080)
    up.add_argument("--workers", type=int, default=2)
    up.add_argument("--nats-port", type=int, default=4222)
    up.add_argument("--nats-monitor-port", type=int, default=8222)
    up.add_argument("--mongo-port", type=int, default=27017)
    up.add_argument(
        "--metrics-port", type=int, default=9100, help="gateway's; workers' follow it (+1, +2...)"
    )
    up.add_argument(
        "--workers-wait",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="longest the banner waits for the workers to be ready (then it says who is not)",
    )

    upload.add_parser(sub)
    images.add_parsers(sub)
    albums.add_parsers(sub)
    remove.add_parser(sub)
    status.add_parser(sub)

    backfill = sub.add_parser(
        "backfill", help="re-render images whose renditions are missing or out of date"
    )
    backfill.add_argument("--dry-run", action="store_true", help="only count them")
    backfill.add_argument("--json", action="store_true", help="the count as JSON")
    add_after(backfill)
    add_data_dir(backfill)
    reconcile.add_parser(sub)

    keys.add_parsers(sub)
    shares.add_parsers(sub)
    usage.add_parser(sub)

    dlq = sub.add_parser("dlq", help="dead letters")
    add_data_dir(dlq)
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_sub.add_parser("list", help="list dead-lettered jobs")
    listing.add_argument("--json", action="store_true", help="the letters as JSON")
    redrive = dlq_sub.add_parser(
        "redrive",
        help=(
            "after fixing the cause: requeue each dead letter's image (failed ones reset),"
            " drop letters of ready or deleted images; prints what it did per letter"
        ),
    )
    redrive.add_argument("image_ids", nargs="*", help="only these images (default: all)")
    redrive.add_argument("--json", action="store_true", help="what was done, as JSON")
    return parser


async def _dead_letters(
    settings: Settings, command: str, image_ids: list[str], as_json: bool
) -> None:
    # Each command imports what it runs: `gallery upload` and `--help` must not pay for
    # loading libvips, NATS, PyMongo and aioboto3 (about a second) that they never use.
    from pipeline.adapters.bus import JetStreamBus
    from pipeline.adapters.catalog import MongoCatalog
    from pipeline.services.redrive import redrive

    async with JetStreamBus.connect(settings.nats, name="gallery-cli") as bus:
        if command == "list":
            letters = await bus.dead_letters()
            if as_json:
                output.print_json([_letter_json(stored) for stored in letters])
            for stored in [] if as_json else letters:
                print(_letter_line(stored))
            print(f"{len(letters)} dead letter(s) listed", file=sys.stderr)
            return
        actions: dict[str, int] = {}
        redriven = []
        async with MongoCatalog.connect(settings.mongo) as catalog:
            async for done in redrive(bus, catalog, image_ids):
                if as_json:
                    redriven.append(
                        {**_letter_json(done.stored), "status": done.status, "action": done.action}
                    )
                else:
                    print(f"{_letter_line(done.stored)} -> {done.status}: {done.action}")
                actions[done.action] = actions.get(done.action, 0) + 1
        if as_json:
            output.print_json(redriven)
        summary = ", ".join(f"{n} {action}" for action, n in sorted(actions.items()))
        count = sum(actions.values())
        print(
            f"{count} dead letter(s) redriven" + (f": {summary}" if summary else ""),
            file=sys.stderr,
        )


def _letter_json(stored: StoredDeadLetter) -> dict[str, object]:
    letter = stored.letter
    return {
        "at": letter.at.isoformat(),
        "lane": letter.lane,
        "tenant": letter.job.tenant if letter.job is not None else None,
        "image_id": letter.job.image_id if letter.job is not None else None,
        "attempts": letter.attempts,
        "reason": letter.reason,
    }


def _letter_line(stored: StoredDeadLetter) -> str:
    letter = stored.letter
    what = (
        f"{letter.job.tenant}/{letter.job.image_id}"
        if letter.job is not None
        else f"{letter.lane} {letter.payload[:80]!r}"
    )
    return f"{letter.at.isoformat()} {what} attempts={letter.attempts} {letter.reason}"


async def _backfill(
    settings: Settings, dry_run: bool, as_json: bool, after: WalkPosition | None
) -> None:
    # Imported here: see _dead_letters.
    from pipeline.adapters.bus import JetStreamBus
    from pipeline.adapters.catalog import MongoCatalog
    from pipeline.imaging.spec import parse_spec, parse_video_spec
    from pipeline.imaging.video import VideoSpec, video_hashes
    from pipeline.services.backfill import plan_backfill

    def show(walked: int, total: int) -> None:
        print(f"\rbackfill: {walked}/{total} image(s) checked", end="", file=sys.stderr, flush=True)

    spec = parse_spec(settings.renditions)
    async with (
        JetStreamBus.connect(settings.nats, name="gallery-cli") as bus,
        MongoCatalog.connect(settings.mongo) as catalog,
    ):
        await bus.declare()
        state = WalkState()
        with resumable("backfill", state):
            queued = await plan_backfill(
                bus,
                catalog.scan,
                spec,
                settings.reconcile,
                dry_run=dry_run,
                progress=show,
                videos=video_hashes(VideoSpec.from_spec(parse_video_spec(settings.renditions))),
                after=after,
                state=state,
            )
    verb = "would be queued" if dry_run else "queued on the backfill lane"
    print(f"\nbackfill: {queued} image(s) {verb}", file=sys.stderr)
    if as_json:
        output.print_json({"dry_run": dry_run, "queued": queued})


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED
    except BrokenPipeError:
        # `gallery ls --ids | head -1`: the reader has what it wanted. Python would report
        # the pipe again when it flushes stdout at exit, so stdout goes to /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exitcodes.OK
    except (PipelineError, OSError) as exc:
        print(f"gallery: {exc}", file=sys.stderr)
        return exitcodes.for_error(exc)


API_COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "ls": images.run_ls,
    "show": images.run_show,
    "share": shares.run,
    "usage": usage.run,
}
"""Commands that talk to a gateway's API with the tenant's key."""


def _run(args: argparse.Namespace) -> int:
    # Commands in their own module (gallery/commands/) name their handler on the parser.
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is not None:
        return handler(args)
    if args.command == "up":
        from gallery.embedded import UpOptions, run_up  # per command, see _dead_letters

        return run_up(
            UpOptions(
                args.data_dir,
                args.port,
                args.workers,
                args.nats_port,
                args.mongo_port,
                args.metrics_port,
                args.nats_monitor_port,
                workers_ready_seconds=args.workers_wait,
            )
        )
    if args.command == "upload":
        return upload.run(args)
    if args.command in API_COMMANDS:
        return asyncio.run(API_COMMANDS[args.command](args))
    if args.command == "status":
        return status.run(args)
    if args.command == "reconcile":
        return reconcile.run(args)
    # The servers read the environment alone; the other commands find `gallery up` too.
    settings = load_settings() if args.command in SERVERS else backend_settings(args)
    configure_logging(settings.log_level)
    if args.command == "gateway":
        from gateway.main import run_gateway  # per command, see _dead_letters

        asyncio.run(run_gateway(settings))
    elif args.command == "worker":
        from workers.main import run_worker  # per command, see _dead_letters

        asyncio.run(run_worker(settings))
    elif args.command == "backfill":
        asyncio.run(_backfill(settings, args.dry_run, args.json, args.after))
    elif args.command == "keys":
        asyncio.run(keys.run(settings, args))
    elif args.command == "dlq":
        asyncio.run(
            _dead_letters(settings, args.dlq_command, getattr(args, "image_ids", []), args.json)
        )
    return exitcodes.OK


if __name__ == "__main__":
    sys.exit(main())
