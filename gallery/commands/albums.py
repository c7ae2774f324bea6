"""``gallery albums ls|create|rename|rm|add``: a tenant's albums from the command line.

An album is named by its name or by its id (or a unique id prefix); images by their id or
a unique prefix (gallery/ids.py). ``--json`` prints the album document(s) the gateway
answered with; ``ls --ids`` prints only full ids, one a line, for scripts.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from gallery import ids, output
from gallery.api import Api, Json
from gallery.exitcodes import OK
from gallery.options import ClientOptions
from gallery.tables import Column, table


def add_parsers(sub: Any) -> None:
    albums = sub.add_parser("albums", help="list, create, rename, delete albums; add photos")
    verbs = albums.add_subparsers(dest="albums_command", required=True)

    def verb(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = verbs.add_parser(name, help=help_text)
        ClientOptions.add_arguments(parser)
        parser.add_argument("--json", action="store_true", help="the album(s) as JSON")
        parser.set_defaults(handler=run)
        return parser

    listing = verb("ls", "list albums (newest first)")
    listing.add_argument("--ids", action="store_true", help="only full album ids, one a line")
    verb("create", "create an album").add_argument("name")
    rename = verb("rename", "rename an album")
    rename.add_argument("album", help="its name, id or id prefix")
    rename.add_argument("new_name")
    verb("rm", "delete albums (their photos stay)").add_argument(
        "albums", nargs="+", help="names, ids or id prefixes"
    )
    add = verb("add", "add photos to an album")
    add.add_argument("album", help="its name, id or id prefix")
    add.add_argument("images", nargs="+", help="image ids or unique prefixes")


def run(args: argparse.Namespace) -> int:
    client = ClientOptions.from_args(args)
    return asyncio.run(_run(client, args))


async def _run(client: ClientOptions, args: argparse.Namespace) -> int:
    async with Api.open(client.url, client.key) as api:
        verb = args.albums_command
        if verb == "ls":
            rows = [album async for album in api.albums()]
            _print_albums(rows, args)
            return OK
        if verb == "create":
            created: Json = await api.request("POST", "/v1/albums", json={"name": args.name})
            _done(args, [created], "created")
        elif verb == "rename":
            album = await ids.album(api, args.album)
            renamed: Json = await api.request(
                "PATCH", f"/v1/albums/{album['id']}", json={"name": args.new_name}
            )
            _done(args, [renamed], f"renamed (was {album['name']!r})")
        elif verb == "rm":
            doomed = [await ids.album(api, text) for text in args.albums]
            for album in doomed:
                await api.request("DELETE", f"/v1/albums/{album['id']}")
            _done(args, doomed, "deleted (its photos stay)")
        else:
            album = await ids.album(api, args.album)
            image_ids = [await ids.image_id(api, text) for text in args.images]
            for image_id in image_ids:
                await api.add_to_album(str(album["id"]), image_id)
            _done(args, [await api.album(str(album["id"]))], f"+{len(image_ids)} photo(s)")
    return OK


def _print_albums(rows: list[Json], args: argparse.Namespace) -> None:
    if args.json:
        output.print_json(rows)
        return
    if args.ids:
        for album in rows:
            print(album["id"])
        return
    console = output.stdout()
    console.print(_albums_table(rows, console.width))
    output.stderr().print(f"{len(rows)} album(s)")


def _done(args: argparse.Namespace, albums: list[Json], what: str) -> None:
    if args.json:
        output.print_json(albums if len(albums) != 1 else albums[0])
        return
    console = output.stdout()
    console.print(_albums_table(albums, console.width))
    output.stderr().print(f"{len(albums)} album(s) {what}")


def _albums_table(rows: list[Json], width: int) -> Any:
    columns = [
        Column("id", fixed=True),
        Column("name"),
        Column("photos", fixed=True, justify="right"),
        Column("created"),
    ]
    return table(
        columns,
        (
            [
                str(album["id"]),
                str(album.get("name", "")),
                str(album.get("image_count", 0)),
                output.timestamp(album.get("created_at")),
            ]
            for album in rows
        ),
        width,
    )
