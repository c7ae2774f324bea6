"""HEIC, AVIF and Canon CR3: ISO base media file format boxes (ISO/IEC 14496-12 section 4.2).

The size of a HEIF image is its largest ``ispe`` property (meta/iprp/ipco, ISO/IEC 23008-12
section 6.5.3): a grid image's ispe is the full size, its tiles' are smaller. ispe is the
coded size (padded to whole blocks; ``clap``, 6.5.9, says what is shown) and an ``irot``
quarter turn (6.5.10) swaps the sides as shown, which is what libheif
(and so the renderer) reports. A CR3 keeps its images as
tracks; each ``CRAW`` sample entry (moov/trak/mdia/minf/stbl/stsd) is a visual sample entry
with width and height (14496-12 section 12.1.3), the sensor image being the largest.
Everything else - ``mdat`` above all - is skipped by its size.
"""

from __future__ import annotations

import struct
from collections.abc import Generator
from typing import NamedTuple

from pipeline.domain.errors import UndecodableImage
from pipeline.imaging.scan.stream import Parser, Read, Request, Skip
from pipeline.imaging.scan.tally import Tally

CR3_MIME = "image/x-canon-cr3"
# Boxes to descend into, with the bytes before their children (FullBox version and flags;
# stsd also has an entry count).
_CONTAINERS = {
    b"meta": 4,
    b"iprp": 0,
    b"ipco": 0,
    b"moov": 0,
    b"trak": 0,
    b"mdia": 0,
    b"minf": 0,
    b"stbl": 0,
    b"stsd": 8,
}
_MAX_DEPTH = 8

Sizes = list[tuple[int, int]]


class _Found(NamedTuple):
    sizes: Sizes  # ispe and CRAW sizes
    cropped: Sizes  # clap sizes
    turned: list[bool]  # irot quarter turns


def parse(tally: Tally, mime: str) -> Parser:
    found = _Found([], [], [])
    sizes, cropped, turned = found
    while True:
        box, body, _ = yield from _box_header(None)
        if box in (b"meta", b"moov"):
            yield from _children(box, body, found, 1)
            if sizes:
                width, height = max(sizes, key=lambda size: size[0] * size[1])
                if cropped:  # the coded size is padded to whole blocks; clap is what is shown
                    width, height = min(cropped, key=lambda size: size[0] * size[1])
                if turned:
                    width, height = height, width
                raw = "CR3" if mime == CR3_MIME else None
                tally.found(mime, width, height, raw=raw)
                return
        elif body is None:  # the last box runs to the end of the file
            break
        else:
            yield Skip(body)
    raise UndecodableImage(f"no image size in the {mime} boxes")


def _box_header(room: int | None) -> Generator[Request, bytes, tuple[bytes, int | None, int]]:
    """Type, body size (``None``: to the end of the file) and header size of the next box."""
    size, box = struct.unpack(">I4s", (yield Read(8)))
    used = 8
    if size == 1:
        (size,) = struct.unpack(">Q", (yield Read(8)))
        used = 16
    elif size == 0:
        return box, (None if room is None else room - used), used
    if size < used or (room is not None and size > room):
        raise UndecodableImage(f"box {box!r} of {size} bytes does not fit")
    return box, size - used, used


def _children(box: bytes, body: int | None, found: _Found, depth: int) -> Parser:
    if body is None or depth > _MAX_DEPTH:
        raise UndecodableImage(f"box {box!r} is not bounded")
    prefix = _CONTAINERS[box]
    if body < prefix:
        raise UndecodableImage(f"box {box!r} is too short")
    yield Skip(prefix)
    room = body - prefix
    while room >= 8:
        child, child_body, used = yield from _box_header(room)
        assert child_body is not None  # bounded by room
        room -= used + child_body
        if child in _CONTAINERS:
            yield from _children(child, child_body, found, depth + 1)
        elif child == b"ispe" and child_body >= 12:
            found.sizes.append(struct.unpack_from(">II", (yield Read(12)), 4))
            yield Skip(child_body - 12)
        elif child == b"clap" and child_body >= 16:  # clean aperture: fractions N/D
            wn, wd, hn, hd = struct.unpack(">IIII", (yield Read(16)))
            if wd and hd:
                found.cropped.append((round(wn / wd), round(hn / hd)))
            yield Skip(child_body - 16)
        elif child == b"irot" and child_body >= 1:
            if (yield Read(1))[0] & 0x03 in (1, 3):  # a quarter turn: shown with sides swapped
                found.turned.append(True)
            yield Skip(child_body - 1)
        elif child == b"CRAW" and child_body >= 28:
            found.sizes.append(struct.unpack_from(">HH", (yield Read(28)), 24))
            yield Skip(child_body - 28)
        else:
            yield Skip(child_body)
    yield Skip(room)
