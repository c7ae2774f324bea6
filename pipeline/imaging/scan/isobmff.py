"""HEIC, AVIF and Canon CR3: ISO base media file format boxes (ISO/IEC 14496-12 section 4.2).

The size of a HEIF image is that of its primary item (``pitm``, ISO/IEC 23008-12 section
7.1): the ``ispe`` property (meta/iprp/ipco, section 6.5.3) the item is associated with in
``ipma`` (6.5.1). A file may hold several top-level images (a second photo, a depth map, a
larger thumbnail stored as its own item); decoders (libheif, libvips) show the primary one,
so any other item's size is not the image's. A grid primary's ispe is the full size, its
tiles' are smaller. ispe is the coded size (padded to whole blocks; ``clap``, 6.5.9, says
what is shown) and an ``irot`` quarter turn (6.5.10) swaps the sides as shown, which is what
libheif (and so the renderer) reports. Without ``pitm``/``ipma`` (a malformed file that a
decoder might still read) the largest ispe stands in. A CR3 keeps its images as tracks;
each ``CRAW`` sample entry (moov/trak/mdia/minf/stbl/stsd) is a visual sample entry with
width and height (14496-12 section 12.1.3), the sensor image being the largest. Everything
else - ``mdat`` above all - is skipped by its size.
"""

from __future__ import annotations

import struct
from collections.abc import Generator
from dataclasses import dataclass, field

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

Size = tuple[int, int]


@dataclass
class _Found:
    """What the boxes said: HEIF item properties (ipco order, 1-based), associations and the
    primary item; CR3 sample entry sizes."""

    properties: list[tuple[bytes, Size | None]] = field(default_factory=list)
    associations: dict[int, list[int]] = field(default_factory=dict)
    primary: int | None = None
    tracks: list[Size] = field(default_factory=list)

    def shown_size(self) -> Size | None:
        """The primary item's size as shown (clap, then irot), else the largest ispe."""
        wanted = self.associations.get(self.primary) if self.primary is not None else None
        if wanted is None:  # no pitm/ipma: every property, as the best guess
            wanted = list(range(1, len(self.properties) + 1))
        props = [self.properties[i - 1] for i in wanted if 0 < i <= len(self.properties)]
        sizes = [value for kind, value in props if kind == b"ispe" and value]
        if not sizes:
            return max(self.tracks, key=_area) if self.tracks else None
        width, height = max(sizes, key=_area)
        cropped = [value for kind, value in props if kind == b"clap" and value]
        if cropped:  # the coded size is padded to whole blocks; clap is what is shown
            width, height = min(cropped, key=_area)
        if any(kind == b"irot" and value for kind, value in props):
            width, height = height, width
        return width, height


def _area(size: Size) -> int:
    return size[0] * size[1]


def parse(tally: Tally, mime: str) -> Parser:
    found = _Found()
    while True:
        box, body, _ = yield from box_header(None)
        if box in (b"meta", b"moov"):
            yield from _children(box, body, found, 1)
            size = found.shown_size()
            if size is not None:
                raw = "CR3" if mime == CR3_MIME else None
                tally.found(mime, *size, raw=raw)
                return
        elif body is None:  # the last box runs to the end of the file
            break
        else:
            yield Skip(body)
    raise UndecodableImage(f"no image size in the {mime} boxes")


def box_header(room: int | None) -> Generator[Request, bytes, tuple[bytes, int | None, int]]:
    """Type, body size (``None``: to the end of the file) and header size of the next box
    (ISO/IEC 14496-12 4.2; also read by :mod:`pipeline.imaging.scan.mp4`)."""
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
        child, child_body, used = yield from box_header(room)
        assert child_body is not None  # bounded by room
        room -= used + child_body
        if box == b"ipco":  # every child is a property, numbered from 1 in this order
            found.properties.append((child, (yield from _property(child, child_body))))
        elif child in _CONTAINERS:
            yield from _children(child, child_body, found, depth + 1)
        elif child == b"pitm" and child_body >= 6:  # FullBox, then a 16-bit id (32 in v1)
            head = yield Read(6)
            if head[0] == 0:
                found.primary, used = struct.unpack_from(">H", head, 4)[0], 6
            elif child_body >= 8:
                found.primary, used = struct.unpack(">I", head[4:] + (yield Read(2)))[0], 8
            else:
                raise UndecodableImage("pitm box is too short")
            yield Skip(child_body - used)
        elif child == b"ipma":
            yield from _associations(child_body, found)
        elif child == b"CRAW" and child_body >= 28:
            found.tracks.append(struct.unpack_from(">HH", (yield Read(28)), 24))
            yield Skip(child_body - 28)
        else:
            yield Skip(child_body)
    yield Skip(room)


def _property(kind: bytes, body: int) -> Generator[Request, bytes, Size | None]:
    """The figure of one ipco property that matters here (skips the rest of its body)."""
    value: Size | None = None
    used = 0
    if kind == b"ispe" and body >= 12:
        value = struct.unpack_from(">II", (yield Read(12)), 4)
        used = 12
    elif kind == b"clap" and body >= 16:  # clean aperture: fractions N/D
        wn, wd, hn, hd = struct.unpack(">IIII", (yield Read(16)))
        value = (round(wn / wd), round(hn / hd)) if wd and hd else None
        used = 16
    elif kind == b"irot" and body >= 1:
        if (yield Read(1))[0] & 0x03 in (1, 3):  # a quarter turn: shown with sides swapped
            value = (1, 1)
        used = 1
    yield Skip(body - used)
    return value


def _associations(body: int, found: _Found) -> Parser:
    """``ipma`` (ISO/IEC 23008-12 6.5.1): per item, the indices of its properties."""
    if body < 8:
        raise UndecodableImage("ipma box is too short")
    version, flags, count = struct.unpack(">B3sI", (yield Read(8)))
    id_size = 4 if version >= 1 else 2
    index_size = 2 if int.from_bytes(flags, "big") & 1 else 1
    left = body - 8
    for _ in range(count):
        if left < id_size + 1:
            raise UndecodableImage("ipma box is truncated")
        entry = yield Read(id_size + 1)
        item, many = int.from_bytes(entry[:id_size], "big"), entry[id_size]
        left -= id_size + 1 + many * index_size
        if left < 0:
            raise UndecodableImage("ipma box is truncated")
        indices = (yield Read(many * index_size)) if many else b""
        mask = 0x7FFF if index_size == 2 else 0x7F  # the top bit says "essential"
        found.associations[item] = [
            int.from_bytes(indices[i : i + index_size], "big") & mask
            for i in range(0, len(indices), index_size)
        ]
    yield Skip(left)
