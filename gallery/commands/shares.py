"""``gallery share create|list|revoke``: share links, through the gateway with the
tenant's API key (the key needs the ``share`` scope).

``create --album NAME`` (or ``--image ID``) prints the link's URL: it is shown this once.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from gallery import output
from gallery.api import Api, Json
from gallery.exitcodes import OK
from gallery.options import ClientOptions
from pipeline.domain.errors import NotFound


def add_parsers(sub: Any) -> None:
    share = sub.add_parser("share", help="share links to an album or a photo")
    share_sub = share.add_subparsers(dest="share_command", required=True)
    create = share_sub.add_parser("create", help="make a link; prints its URL (shown once)")
    ClientOptions.add_arguments(create)
    target = create.add_mutually_exclusive_group(required=True)
    target.add_argument("--album", help="share the album with this name")
    target.add_argument("--image", help="share the photo with this id")
    create.add_argument("--expires", type=int, help="lifetime in seconds (default: the server's)")
    create.add_argument(
        "--allow-download", action="store_true", help="let the link download originals"
    )
    listing = share_sub.add_parser("list", help="the tenant's links with their use counts")
    ClientOptions.add_arguments(listing)
    listing.add_argument("--json", action="store_true", help="a JSON array of links")
    revoke = share_sub.add_parser("revoke", help="revoke a link: every gateway refuses it")
    ClientOptions.add_arguments(revoke)
    revoke.add_argument("share_id", help="the id `gallery share list` shows")


async def run(args: argparse.Namespace) -> int:
    client = ClientOptions.from_args(args)
    async with Api.open(client.url, client.key) as api:
        if args.share_command == "create":
            print(await _create(api, args))
        elif args.share_command == "list":
            links = [link async for link in api.pages("/v1/shares")]
            if args.json:
                output.print_json(links)
            else:
                output.stdout().print(_table(links))
        else:
            await api.request("DELETE", f"/v1/shares/{args.share_id}")
            print(f"revoked {args.share_id}")
    return OK


async def _create(api: Api, args: argparse.Namespace) -> str:
    body: Json = {"allow_download": args.allow_download}
    if args.album:
        album = await api.album_named(args.album, create=False)
        if album is None:
            raise NotFound(f"no album named {args.album!r}")
        body["album_id"] = album["id"]
    else:
        body["image_id"] = args.image
    if args.expires is not None:
        body["expires_in_seconds"] = args.expires
    made: Json = await api.request("POST", "/v1/shares", json=body)
    return str(made["url"])


def _table(links: list[Json]) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("id", "shares", "download", "uses", "expires", "state"):
        table.add_column(column, no_wrap=True)
    for link in links:
        what = f"album {link['album_id']}" if link.get("album_id") else f"photo {link['image_id']}"
        table.add_row(
            str(link["id"]),
            what,
            "yes" if link.get("allow_download") else "no",
            str(link.get("uses", 0)),
            str(link.get("expires_at", ""))[:19].replace("T", " "),
            "revoked" if link.get("revoked_at") else "active",
        )
    return table
