"""``gallery rm ID...``: delete photos (their originals and renditions go with them).

Each id may be a unique prefix (gallery/ids.py). Every id is tried; exit code 0 when all
were deleted, 4 when one was not found, 1 when another failed; ``--json`` gives one entry
per id: ``{"id", "image_id", "outcome": "deleted"|"not found"|"failed", "reason"}``.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from gallery import exitcodes, ids, output
from gallery.api import Api, Json
from gallery.options import ClientOptions
from gallery.tables import Column, table
from pipeline.domain.errors import NotFound, PipelineError


def add_parser(sub: Any) -> None:
    rm = sub.add_parser("rm", help="delete photos by id (or a unique id prefix)")
    ClientOptions.add_arguments(rm)
    rm.add_argument("images", nargs="+", help="image ids or unique prefixes")
    rm.add_argument("--json", action="store_true", help="one result per id as JSON")
    rm.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    client = ClientOptions.from_args(args)
    results = asyncio.run(_remove(client, args.images))
    if args.json:
        output.print_json(results)
    else:
        columns = [Column("id", fixed=True), Column("result", fixed=True), Column("reason")]
        rows = ([r["image_id"] or r["id"], r["outcome"], r["reason"] or ""] for r in results)
        console = output.stdout()
        console.print(table(columns, rows, console.width))
        deleted = sum(r["outcome"] == "deleted" for r in results)
        output.stderr().print(f"{deleted} of {len(results)} photo(s) deleted")
    outcomes = {r["outcome"] for r in results}
    if outcomes == {"deleted"}:
        return exitcodes.OK
    return exitcodes.NOT_FOUND if "failed" not in outcomes else exitcodes.PARTIAL


async def _remove(client: ClientOptions, texts: list[str]) -> list[Json]:
    results: list[Json] = []
    async with Api.open(client.url, client.key) as api:
        for text in texts:
            result: Json = {"id": text, "image_id": None, "outcome": "deleted", "reason": None}
            try:
                result["image_id"] = await ids.image_id(api, text)
                await api.request("DELETE", f"/v1/images/{result['image_id']}")
            except NotFound as exc:
                result["outcome"], result["reason"] = "not found", str(exc)
            except PipelineError as exc:
                result["outcome"], result["reason"] = "failed", str(exc)
            results.append(result)
    return results
