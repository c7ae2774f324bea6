"""``gallery usage``: what the tenant stores (gallery and trash) and the limits that apply."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from gallery import output
from gallery.api import Api, Json
from gallery.exitcodes import OK
from gallery.options import ClientOptions


def add_parser(sub: Any) -> None:
    usage = sub.add_parser("usage", help="photos and bytes stored, the trash, the quota")
    ClientOptions.add_arguments(usage)
    usage.add_argument("--json", action="store_true", help="the GET /v1/usage document")


async def run(args: argparse.Namespace) -> int:
    client = ClientOptions.from_args(args)
    async with Api.open(client.url, client.key) as api:
        usage: Json = await api.request("GET", "/v1/usage")
    if args.json:
        output.print_json(usage)
    else:
        output.stdout().print(_table(usage))
    return OK


def _table(usage: Json) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("", "photos", "originals", "renditions", "total"):
        table.add_column(column, no_wrap=True, justify="left" if not column else "right")
    for name, figures in (("gallery", usage), ("trash", usage["trash"])):
        sizes = figures["bytes"]
        table.add_row(
            name,
            str(figures["photos"]),
            output.human_bytes(sizes["originals"]),
            output.human_bytes(sizes["renditions"]),
            output.human_bytes(sizes["total"]),
        )
    quota = usage["quota"]
    images = quota["max_images"] or "no limit"
    stored = output.human_bytes(quota["max_bytes"]) if quota["max_bytes"] else "no limit"
    table.caption = (
        f"quota: {quota['counted_images']} of {images} photos, "
        f"{output.human_bytes(quota['counted_bytes'])} of {stored} (the trash counts)"
    )
    return table
