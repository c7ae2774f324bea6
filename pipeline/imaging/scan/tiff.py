"""TIFF and the TIFF-based camera RAW formats: follow the IFD offsets forward through the stream.

Structure per TIFF 6.0 section 2 (BigTIFF: 8-byte offsets and counts). libtiff writes each IFD
after its pixel data, so the first IFD is often at the end of the file; the walk keeps a heap
of the offsets it still wants (IFDs, SubIFD arrays, the Make string) and skips forward to the
nearest one, holding nothing else. An offset behind the stream position is read from the
scanner's small look-back window (a SubIFD written just before IFD0) or, further back, left
out (the frame count is then a lower bound). IFDs already read are not read again, so a
looping chain ends.

RAW detection: DNGVersion (DNG 1.7 spec), the CR2 signature after the TIFF header, the ORF and
RW2 magic numbers, or a CFA / LinearRaw image (TIFF/EP) named by the camera Make (NEF, ARW).
A RAW's size is that of its largest image (the sensor), never the preview in IFD0.
"""

from __future__ import annotations

import contextlib
import heapq
import struct
from collections.abc import Generator
from dataclasses import dataclass, field

from pipeline.domain.errors import UndecodableImage
from pipeline.imaging.scan.stream import EndOfStream, Parser, Peek, Read, Request, Skip
from pipeline.imaging.scan.tally import Tally

MIME = "image/tiff"
RAW_MIME = {
    "DNG": "image/x-adobe-dng",
    "CR2": "image/x-canon-cr2",
    "NEF": "image/x-nikon-nef",
    "ARW": "image/x-sony-arw",
    "ORF": "image/x-olympus-orf",
    "RW2": "image/x-panasonic-rw2",
    "RAW": "image/x-raw",
}
_MAGIC_RAW = {0x4F52: "ORF", 0x5352: "ORF", 0x55: "RW2"}  # 'RO', 'RS' (Olympus), Panasonic
_CFA, _LINEAR_RAW = 32803, 34892  # PhotometricInterpretation of sensor data (TIFF/EP, DNG)
_MAKES = {"NIKON": "NEF", "SONY": "ARW", "CANON": "CR2"}
_MAX_ENTRIES_READ = 1024  # IFD entries read at once: 12 KB (20 KB BigTIFF), within MAX_READ
_MAX_SIDE_IFDS = 64  # SubIFDs followed in all; cameras write 1-3
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 6: 1, 7: 1, 8: 2, 9: 4, 13: 4, 16: 8, 17: 8, 18: 8}


@dataclass(frozen=True)
class _Layout:
    order: str  # struct byte order
    big: bool  # BigTIFF
    raw: str | None  # RAW named by the header alone

    @property
    def offset(self) -> str:
        return self.order + ("Q" if self.big else "I")

    @property
    def entry(self) -> str:  # tag, type, count, value field
        return self.order + ("HHQ8s" if self.big else "HHI4s")


@dataclass
class _Walk:
    layout: _Layout
    pos: int
    wanted: list[tuple[int, int, str, int]] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)  # per IFD, in read order
    first: tuple[int, int] | None = None  # page 1
    pages: int = 0
    side_ifds: int = 0
    dng: bool = False
    sensor: bool = False  # a CFA or LinearRaw image was seen
    make: str = ""
    seen: set[int] = field(default_factory=set)  # IFD offsets read: a looping chain ends

    def want(self, offset: int, kind: str, arg: int = 0) -> None:
        heapq.heappush(self.wanted, (offset, len(self.wanted) + self.pos, kind, arg))


def layout_of(head: bytes) -> _Layout | None:
    """Byte order and variant from the first 16 bytes, or ``None`` if not TIFF-structured."""
    if len(head) < 8 or head[:2] not in (b"II", b"MM"):
        return None
    order = "<" if head[:2] == b"II" else ">"
    magic = struct.unpack_from(order + "H", head, 2)[0]
    if magic == 42:
        cr2 = head[8:10] == b"CR" and head[10:11] == b"\x02"
        return _Layout(order, big=False, raw="CR2" if cr2 else None)
    if magic == 43:
        return _Layout(order, big=True, raw=None)
    if magic in _MAGIC_RAW:
        return _Layout(order, big=False, raw=_MAGIC_RAW[magic])
    return None


def parse(tally: Tally, layout: _Layout) -> Parser:
    header = yield Read(16 if layout.big else 8)
    first = struct.unpack_from(layout.offset, header, 8 if layout.big else 4)[0]
    walk = _Walk(layout, pos=len(header))
    walk.want(first, "ifd", 1)
    # An offset beyond the end of the file ends the walk: report what was found before it.
    with contextlib.suppress(EndOfStream):
        yield from _follow(walk, tally)
    _report(walk, tally)


def _follow(walk: _Walk, tally: Tally) -> Parser:
    while walk.wanted:
        offset, _, kind, arg = heapq.heappop(walk.wanted)
        if kind == "ifd" and offset in walk.seen:
            continue
        walk.seen.add(offset)
        try:
            if kind == "ifd":
                yield from _ifd(walk, tally, offset, chain=bool(arg))
            elif kind == "subifds":
                data = yield from _read_at(walk, offset, arg * struct.calcsize(walk.layout.offset))
                for (sub,) in struct.iter_unpack(walk.layout.offset, data):
                    _want_side_ifd(walk, sub)
            else:  # make
                data = yield from _read_at(walk, offset, arg)
                walk.make = data.split(b"\0")[0].decode("latin-1")
        except _OutOfReach:
            continue  # passed too long ago for a one-pass scan: left out


class _OutOfReach(Exception):
    pass


def _read_at(walk: _Walk, offset: int, size: int) -> Generator[Request, bytes, bytes]:
    """``size`` bytes at ``offset``: ahead from the stream, behind from the look-back window."""
    if offset >= walk.pos:
        yield Skip(offset - walk.pos)
        data = yield Read(size)
        walk.pos = offset + size
        return data
    behind = min(size, walk.pos - offset)
    old = yield Peek(offset, behind)
    if len(old) < behind:
        raise _OutOfReach
    new = (yield Read(size - behind)) if size > behind else b""
    walk.pos += len(new)
    return old + new


def _ifd(walk: _Walk, tally: Tally, offset: int, *, chain: bool) -> Generator[Request, bytes, None]:
    layout = walk.layout
    count_format = layout.order + ("Q" if layout.big else "H")
    count_size, entry_size = struct.calcsize(count_format), struct.calcsize(layout.entry)
    (count,) = struct.unpack(count_format, (yield from _read_at(walk, offset, count_size)))
    tags: dict[int, tuple[int, int, bytes]] = {}
    pos = offset + count_size
    while count > 0:
        batch = min(count, _MAX_ENTRIES_READ)
        data = yield from _read_at(walk, pos, batch * entry_size)
        for tag, kind, n, value in struct.iter_unpack(layout.entry, data):
            tags[tag] = (kind, n, value)
        count -= batch
        pos += batch * entry_size
    next_field = yield from _read_at(walk, pos, 8 if layout.big else 4)
    (next_ifd,) = struct.unpack(layout.offset, next_field)
    _note(walk, tags)
    if chain:
        walk.pages += 1
        tally.check_frames(walk.pages)
        if next_ifd:
            walk.want(next_ifd, "ifd", 1)


def _note(walk: _Walk, tags: dict[int, tuple[int, int, bytes]]) -> None:
    """Remember what one IFD says: its size, sensor-data hints, and offsets to follow."""
    layout = walk.layout

    def first(tag: int) -> int | None:
        kind, n, raw = tags.get(tag, (0, 0, b""))
        size = _TYPE_SIZES.get(kind, 0)
        if n < 1 or size not in (1, 2, 4, 8) or size > len(raw):
            return None
        fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[size]
        return int(struct.unpack_from(layout.order + fmt, raw)[0])

    width, height = first(256), first(257)
    if layout.raw == "RW2" and width is None:
        width, height = first(2), first(3)  # Panasonic SensorWidth / SensorHeight
    if width and height:
        walk.sizes.append((width, height))
        if walk.first is None:
            walk.first = (width, height)
    walk.dng = walk.dng or 50706 in tags
    walk.sensor = walk.sensor or first(262) in (_CFA, _LINEAR_RAW)
    _want_values(walk, tags)


def _want_values(walk: _Walk, tags: dict[int, tuple[int, int, bytes]]) -> None:
    layout = walk.layout
    inline = 8 if layout.big else 4
    if 330 in tags:  # SubIFDs: one offset inline, or an array elsewhere
        kind, n, raw = tags[330]
        width = _TYPE_SIZES.get(kind, 4)
        if n * width <= inline:
            for (sub,) in struct.iter_unpack(
                layout.order + ("Q" if width == 8 else "I"), raw[: n * width]
            ):
                _want_side_ifd(walk, sub)
        elif width == struct.calcsize(layout.offset):
            walk.want(struct.unpack(layout.offset, raw)[0], "subifds", min(n, 16))
    if 271 in tags and not walk.make:  # Make: inline up to 4 (8) characters
        _kind, n, raw = tags[271]
        if n <= inline:
            walk.make = raw[:n].split(b"\0")[0].decode("latin-1")
        else:
            walk.want(struct.unpack(layout.offset, raw)[0], "make", min(n, 64))


def _want_side_ifd(walk: _Walk, offset: int) -> None:
    if offset and walk.side_ifds < _MAX_SIDE_IFDS:
        walk.side_ifds += 1
        walk.want(offset, "ifd", 0)


def raw_name(layout: _Layout, *, dng: bool, sensor: bool, make: str) -> str | None:
    """Which camera RAW a TIFF-structured file is, or ``None`` for a plain TIFF."""
    if layout.raw:
        return layout.raw
    if dng:
        return "DNG"
    if not sensor:
        return None
    brand = make.strip().upper().split(" ")[0] if make.strip() else ""
    return _MAKES.get(brand, "RAW")


def _report(walk: _Walk, tally: Tally) -> None:
    raw = raw_name(walk.layout, dng=walk.dng, sensor=walk.sensor, make=walk.make)
    if raw is not None and walk.sizes:
        width, height = max(walk.sizes, key=lambda size: size[0] * size[1])
        tally.found(RAW_MIME[raw], width, height, raw=raw)
    elif raw is None and walk.first is not None:
        tally.found(MIME, *walk.first, frames=max(walk.pages, 1))
    else:
        name = raw or "TIFF"
        raise UndecodableImage(
            f"no image size in the {name} header",
            public_message=f"the {name} header has no image size",
        )
