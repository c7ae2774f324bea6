"""Deep Zoom tiles: ``GET /v1/images/{id}/tiles/{version}/{level}/{col}_{row}.jpg``.

A large photo's tiles are one stored object, an uncompressed ZIP (the ``tiles`` rendition,
:mod:`pipeline.imaging.deepzoom`). The gateway reads the ZIP's central directory once (two
ranged reads of the object's tail, cached per object), and then serves each tile as a
ranged read of its bytes: the same access check as every image route (through
:class:`~pipeline.services.images.ImageQueries`, so a share link reaches the tiles of its own
photos only), a strong ETag per tile,
``If-None-Match`` answered with 304, immutable caching (the version is in the URL).
"""

from __future__ import annotations

import contextlib
import re
import struct
from collections import OrderedDict
from dataclasses import dataclass

from aiohttp import hdrs, web

from gateway.appkeys import PRINCIPAL, QUERIES, SETTINGS
from gateway.conditional import none_match
from gateway.delivery import IMMUTABLE
from gateway.headers import mark_stored_object
from gateway.images import images_base, in_trash
from pipeline.domain.errors import NotFound, StorageError
from pipeline.domain.models import ImageRecord, Rendition
from pipeline.imaging import deepzoom
from pipeline.services.images import ImageQueries, ObjectRef

_TILE = re.compile(r"^(\d{1,6})_(\d{1,6})\.jpg$")
_EOCD = struct.Struct("<4sHHHHIIH")  # end of central directory
_ZIP64_LOCATOR = struct.Struct("<4sIQI")
_ZIP64_EOCD = struct.Struct("<4sQHHIIQQQQ")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_TAIL = 22 + 65535  # the EOCD record and the longest comment it may carry


@dataclass(frozen=True)
class _Member:
    offset: int  # of its local header
    size: int
    method: int


class TileIndexes:
    """The ZIP index of the most recently used tile archives (least recently used out)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._indexes: OrderedDict[str, dict[str, _Member]] = OrderedDict()

    async def member(self, queries: ImageQueries, ref: ObjectRef, name: str) -> _Member | None:
        key = ref.key
        index = self._indexes.get(key)
        if index is None:
            index = await _read_index(queries, ref)
            self._indexes[key] = index
            while len(self._indexes) > self._size:
                self._indexes.popitem(last=False)
        self._indexes.move_to_end(key)
        return index.get(name)


TILE_INDEXES = web.AppKey("tile_indexes", TileIndexes)


async def _read(queries: ImageQueries, ref: ObjectRef, start: int, end: int) -> bytes:
    async with contextlib.aclosing(queries.stream(ref, start=start, end=end)) as body:
        return b"".join([chunk async for chunk in body])


async def _read_index(queries: ImageQueries, ref: ObjectRef) -> dict[str, _Member]:
    key = ref.key
    size = await queries.size(ref)
    tail_start = max(0, size - _TAIL)
    tail = await _read(queries, ref, tail_start, size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0:
        raise StorageError(f"{key}: not a ZIP (no end of central directory)")
    _, _, _, _, entries, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    locator = at - _ZIP64_LOCATOR.size
    if locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
        record_offset = _ZIP64_LOCATOR.unpack_from(tail, locator)[2]
        record = await _read(queries, ref, record_offset, record_offset + _ZIP64_EOCD.size)
        entries, cd_size, cd_offset = _ZIP64_EOCD.unpack(record)[7:10]
    directory = await _read(queries, ref, cd_offset, cd_offset + cd_size)
    return _parse_directory(directory, entries)


def _parse_directory(data: bytes, entries: int) -> dict[str, _Member]:
    members: dict[str, _Member] = {}
    pos = 0
    for _ in range(entries):
        fields = _CENTRAL.unpack_from(data, pos)
        method, size, name_len, extra_len, comment_len = (
            fields[4],
            fields[8],
            fields[10],
            fields[11],
            fields[12],
        )
        offset = fields[16]
        name_start = pos + _CENTRAL.size
        name = data[name_start : name_start + name_len].decode("utf-8", "replace")
        extra = data[name_start + name_len : name_start + name_len + extra_len]
        size, offset = _zip64_sizes(extra, size, fields[9], offset)
        members[name] = _Member(offset, size, method)
        pos = name_start + name_len + extra_len + comment_len
    return members


def _zip64_sizes(extra: bytes, size: int, uncompressed: int, offset: int) -> tuple[int, int]:
    """Sizes and offset from the ZIP64 extra field, for those the fixed fields mark as such."""
    full = 0xFFFFFFFF
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        if tag == 0x0001:
            values = iter(struct.unpack_from(f"<{length // 8}Q", extra, pos + 4))
            if uncompressed == full:
                next(values)
            if size == full:
                size = next(values)
            if offset == full:
                offset = next(values)
        pos += 4 + length
    return size, offset


def _tile_name(request: web.Request) -> tuple[int, int, int]:
    match = _TILE.match(request.match_info["tile"])
    level = request.match_info["level"]
    if match is None or not level.isdigit() or len(level) > 2:
        raise NotFound("bad tile name", public_message="no such tile")
    return int(level), int(match[1]), int(match[2])


def _tiles(record: ImageRecord) -> Rendition:
    tiles = record.renditions.get(deepzoom.NAME)
    if tiles is None:
        raise NotFound("no tiles", public_message="this image has no deep zoom tiles")
    return tiles


async def get_tile(request: web.Request) -> web.StreamResponse:
    """One tile: its JPEG bytes, or 304 for a matching ``If-None-Match``; an outdated
    version redirects to the same tile of the current one."""
    queries = request.app[QUERIES]
    record = await queries.get(
        request[PRINCIPAL], request.match_info["image_id"], trash=in_trash(request)
    )
    tiles = _tiles(record)
    level, col, row = _tile_name(request)
    if request.match_info["version"] != tiles.version:
        base = images_base(request)
        location = f"{base}/{record.id}/tiles/{tiles.version}/{level}/{col}_{row}.jpg"
        return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-cache"})
    etag = f'"{tiles.sha256 or tiles.spec_hash}-{level}-{col}_{row}"'
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    if none_match(request.headers.get(hdrs.IF_NONE_MATCH), etag):
        return web.Response(status=304, headers=headers)
    ref = ObjectRef(tiles.key, deepzoom.TILE_CONTENT_TYPE, etag)
    member = await request.app[TILE_INDEXES].member(
        queries, ref, deepzoom.tile_path(level, col, row)
    )
    if member is None:
        raise NotFound("no such tile", public_message="no such tile")
    if member.method != 0:
        raise StorageError(f"{tiles.key}: tile {level}/{col}_{row} is compressed")
    local = await _read(queries, ref, member.offset, member.offset + _LOCAL.size)
    fields = _LOCAL.unpack(local)
    start = member.offset + _LOCAL.size + fields[9] + fields[10]
    response = web.StreamResponse(status=200, headers=headers)
    mark_stored_object(response)  # the stored-object CSP, as for every rendition
    response.content_type = deepzoom.TILE_CONTENT_TYPE
    response.content_length = member.size
    await response.prepare(request)
    if request.method != "HEAD":
        span = queries.stream(ref, start=start, end=start + member.size)
        async with contextlib.aclosing(span) as body:
            async for chunk in body:
                await response.write(chunk)
    await response.write_eof()
    return response


TILE_ROUTE = "/{image_id}/tiles/{version}/{level}/{tile}"
"""Under each prefix an image lives at: ``/v1/images``, ``/v1/trash``, a share link's."""


def setup(app: web.Application) -> None:
    """The tile routes and their index cache (sized by
    ``GALLERY_GATEWAY_TILE_INDEXES_CACHED``)."""
    app[TILE_INDEXES] = TileIndexes(app[SETTINGS].gateway.tile_indexes_cached)
    app.router.add_get("/v1/images" + TILE_ROUTE, get_tile)
    app.router.add_get("/v1/trash" + TILE_ROUTE, get_tile)
