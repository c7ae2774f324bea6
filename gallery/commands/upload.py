"""``gallery upload``: flags, the live display, the summary, the exit code."""

from __future__ import annotations

import argparse
import asyncio
import re
from pathlib import Path
from typing import Any

from gallery import exitcodes, output
from gallery.api import Api
from gallery.folder import collect
from gallery.options import ClientOptions
from gallery.progress import FileResult, UploadDisplay, summary_table, totals_line
from gallery.tus import DEFAULT_STATE_FILE
from gallery.uploader import Uploader, UploadOptions, plan
from gallery.watch import DEFAULT_STATE_FILE as WATCH_STATE_FILE
from gallery.watch import WatchOptions, watch
from pipeline.domain.errors import InputError

_SIZE = re.compile(r"^(\d+)\s*([kmg]i?b?)?$", re.IGNORECASE)
_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3}


def size_arg(text: str) -> int:
    """``64M``, ``1G``, ``500k`` or plain bytes (binary units)."""
    match = _SIZE.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 64M)")
    unit = (match.group(2) or " ")[0].lower()
    return int(match.group(1)) * _UNITS.get(unit, 1)


def add_parser(sub: Any) -> None:
    upload = sub.add_parser("upload", help="upload photos (files or folders) and wait until ready")
    upload.add_argument("paths", nargs="+", type=Path)
    ClientOptions.add_arguments(upload)
    upload.add_argument("--album", help="add every photo to this album (created if missing)")
    upload.add_argument("--parallel", type=int, default=4, help="files sent at once")
    upload.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for ready")
    upload.add_argument(
        "--tus-threshold",
        type=size_arg,
        default=UploadOptions.tus_threshold,
        help="files this size or larger go through resumable tus uploads (default 64M)",
    )
    upload.add_argument("--tus-chunk", type=size_arg, default=UploadOptions.tus_chunk)
    upload.add_argument(
        "--state-file",
        type=Path,
        default=DEFAULT_STATE_FILE,
        help="where unfinished tus uploads are remembered for resuming",
    )
    upload.add_argument("--json", action="store_true", help="results as JSON on stdout")
    upload.add_argument(
        "--watch",
        action="store_true",
        help="keep importing new photos until Ctrl-C (a restart sends only new ones)",
    )
    upload.add_argument(
        "--interval", type=float, default=2.0, help="--watch: seconds between scans"
    )
    upload.add_argument(
        "--watch-state",
        type=Path,
        default=WATCH_STATE_FILE,
        help="--watch: where the files already sent are remembered",
    )


def run(args: argparse.Namespace) -> int:
    client = ClientOptions.from_args(args)
    opts = UploadOptions(
        parallel=args.parallel,
        timeout=args.timeout,
        album=args.album,
        tus_threshold=args.tus_threshold,
        tus_chunk=args.tus_chunk,
        state_file=args.state_file,
    )
    if args.watch:
        return _watch(client, opts, args)
    results = plan(collect(args.paths), opts)
    interrupted = False
    try:
        asyncio.run(_upload(client, opts, results))
    except KeyboardInterrupt:
        interrupted = True
    _report(results, args.json)
    if interrupted:
        output.stderr().print("interrupted: run the same command again to resume large files")
        return exitcodes.INTERRUPTED
    # Skipped files (not photos, sidecars) are no failure: a script sees 0 when every photo
    # ended ready or was already there.
    bad = [r for r in results if r.outcome not in ("ready", "duplicate", "skipped")]
    return exitcodes.PARTIAL if bad else exitcodes.OK


async def _upload(client: ClientOptions, opts: UploadOptions, results: list[FileResult]) -> None:
    sent = [r for r in results if r.outcome != "skipped"]
    total = sum(r.size for r in sent)
    async with Api.open(client.url, client.key) as api:
        with UploadDisplay(output.stderr(), len(sent), total) as display:
            await Uploader(api, opts, display).run(results)


def _watch(client: ClientOptions, opts: UploadOptions, args: argparse.Namespace) -> int:
    folders = [path for path in args.paths if path.is_dir()]
    if len(folders) != len(args.paths):
        raise InputError("--watch takes folders only")
    watching = WatchOptions(args.interval, args.watch_state, args.json)

    async def run() -> None:
        async with Api.open(client.url, client.key) as api:
            await watch(api, folders, opts, watching)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        output.stderr().print("watch stopped: the same command carries on where it left off")
    return exitcodes.OK  # Ctrl-C is how a watch ends


def _report(results: list[FileResult], as_json: bool) -> None:
    if as_json:
        output.print_json(
            {"files": [r.as_json() for r in results], "summary": totals_line(results)}
        )
        return
    console = output.stdout()
    console.print(summary_table(results, console.width))
    output.stderr().print(totals_line(results))
