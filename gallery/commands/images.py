"""``gallery ls`` and ``gallery show ID``: the tenant's photos as tables, or JSON."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from gallery import ids, output
from gallery.api import Api, Json
from gallery.exitcodes import OK
from gallery.options import ClientOptions
from gallery.tables import Column, table
from pipeline.domain.errors import NotFound

STATUSES = ("queued", "processing", "ready", "failed")
STYLE = {"ready": "green", "failed": "red", "queued": "yellow", "processing": "cyan"}


def add_parsers(sub: Any) -> None:
    ls = sub.add_parser("ls", help="list photos as a table (newest first)")
    ClientOptions.add_arguments(ls)
    ls.add_argument("--album", help="only photos of the album with this name")
    ls.add_argument("--status", choices=STATUSES, help="only photos in this state")
    ls.add_argument("--limit", type=int, default=1000, help="at most this many rows")
    ls.add_argument("--json", action="store_true", help="a JSON array of image documents")
    ls.add_argument("--ids", action="store_true", help="only full image ids, one a line")

    show = sub.add_parser("show", help="one photo: renditions, metadata, state")
    ClientOptions.add_arguments(show)
    show.add_argument("image_id", help="an image id or a unique prefix of one")
    show.add_argument("--json", action="store_true", help="the image document as JSON")


async def run_ls(args: argparse.Namespace) -> int:
    client = ClientOptions.from_args(args)
    async with Api.open(client.url, client.key) as api:
        album_id = None
        if args.album:
            album = await api.album_named(args.album, create=False)
            if album is None:
                raise NotFound(f"no album named {args.album!r}")
            album_id = str(album["id"])
        rows: list[Json] = []
        async for image in api.images(album=album_id, status=args.status):
            rows.append(image)
            if len(rows) >= args.limit:
                break
    if args.json:
        output.print_json(rows)
    elif args.ids:
        for image in rows:
            print(image["id"])
    else:
        console = output.stdout()
        console.print(_images_table(rows, console.width))
        output.stderr().print(f"{len(rows)} photo(s)")
    return OK


def _images_table(rows: list[Json], width: int) -> Table:
    columns = [
        Column("id", fixed=True),
        Column("status", fixed=True),
        Column("file"),
        Column("size", fixed=True, justify="right"),
        Column("pixels"),
        Column("created"),
        Column("note"),
    ]
    cells = []
    for image in rows:
        status = str(image.get("status"))
        pixels = f"{image.get('width')}x{image.get('height')}" if image.get("width") else "-"
        cells.append(
            [
                str(image["id"]),
                f"[{STYLE[status]}]{status}[/]" if status in STYLE else status,
                output.safe(image.get("filename") or "-"),
                output.human_bytes(image.get("bytes")),
                pixels,
                output.timestamp(image.get("created_at")),
                output.safe(image.get("failure") or ""),
            ]
        )
    return table(columns, cells, width)


async def run_show(args: argparse.Namespace) -> int:
    client = ClientOptions.from_args(args)
    async with Api.open(client.url, client.key) as api:
        try:
            image = await api.image(await ids.image_id(api, args.image_id))
        except NotFound as exc:
            raise NotFound(f"no image {args.image_id} for this key") from exc
        names = [(await api.album(album_id))["name"] for album_id in image.get("albums") or []]
    if args.json:
        output.print_json(image)
        return OK
    console = output.stdout()
    console.print(_summary(image, names))
    console.print(_renditions(image, client.url))
    metadata = {k: v for k, v in (image.get("metadata") or {}).items() if v is not None}
    if metadata:
        console.print(_pairs("metadata", metadata))
    return OK


def _summary(image: Json, albums: list[str]) -> Table:
    fields = {
        "id": image["id"],
        "status": image.get("status"),
        "file": image.get("filename"),
        "type": image.get("content_type"),
        "size": output.human_bytes(image.get("bytes")),
        "pixels": f"{image.get('width')} x {image.get('height')}, {image.get('frames')} frame(s)",
        "media": image.get("media"),
        "duration": _duration((image.get("metadata") or {}).get("duration_seconds")),
        "motion": _motion(image),
        "motion of": image.get("motion_of"),
        "sha256": image.get("sha256"),
        "created": image.get("created_at"),
        "ready": image.get("ready_at"),
        "albums": ", ".join(albums) or None,
        "failure": image.get("failure"),
        "original": (image.get("links") or {}).get("original"),
    }
    return _pairs("photo", {k: v for k, v in fields.items() if v is not None})


def _duration(seconds: object) -> str | None:
    """``12.3 s`` for a number of seconds, None for anything else."""
    return f"{seconds:.1f} s" if isinstance(seconds, int | float) else None


def _motion(image: Json) -> str | None:
    """A motion photo's video (its source and length), or why it could not be made."""
    motion = image.get("motion")
    if isinstance(motion, dict):
        length = _duration(motion.get("duration_seconds"))
        return ", ".join(str(p) for p in (motion.get("source"), length) if p)
    error = (image.get("metadata") or {}).get("motion_error")
    return f"not playable: {output.safe(str(error))}" if error else None


def _renditions(image: Json, url: str) -> Table:
    table = Table(title="renditions", title_justify="left", box=None, pad_edge=False)
    for column in ("name", "pixels", "type", "size", "url"):
        table.add_column(column, no_wrap=True)
    for name, rendition in sorted((image.get("renditions") or {}).items()):
        table.add_row(
            output.cell(name),
            output.cell(f"{rendition.get('width')}x{rendition.get('height')}"),
            output.cell(rendition.get("content_type")),
            output.human_bytes(rendition.get("bytes")),
            output.cell(f"{url}{rendition.get('url')}"),
        )
    return table


def _pairs(title: str, values: dict[str, Any]) -> Table:
    table = Table(title=title, title_justify="left", box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, value in values.items():
        table.add_row(output.cell(key), output.cell(value))
    return table
