"""PNG: walk the chunks to IHDR (size) and acTL (APNG frame count), stop at the image data.

Chunk layout per the PNG spec (ISO/IEC 15948, W3C PNG 3rd ed. section 5.3): length, type,
data, CRC. acTL must come before the first IDAT (APNG spec), so IDAT ends the header.
"""

from __future__ import annotations

import struct

from pipeline.domain.errors import UndecodableImage
from pipeline.imaging.scan.stream import Parser, Read, Skip
from pipeline.imaging.scan.tally import Tally

MIME = "image/png"
_MAX_CHUNK = 2**31 - 1  # PNG section 5.3: lengths are at most 2^31 - 1


def parse(tally: Tally) -> Parser:
    yield Read(8)  # signature, checked by the sniffer
    first = True
    while True:
        length, kind = struct.unpack(">I4s", (yield Read(8)))
        if length > _MAX_CHUNK:
            raise UndecodableImage(f"PNG chunk {kind!r} declares {length} bytes")
        if first and (kind != b"IHDR" or length != 13):
            raise UndecodableImage("PNG does not start with a 13-byte IHDR chunk")
        first = False
        if kind == b"IHDR":
            width, height = struct.unpack(">II", (yield Read(8)))
            tally.found(MIME, width, height)
            yield Skip(length - 8 + 4)
        elif kind == b"acTL" and length >= 8:
            (frames,) = struct.unpack_from(">I", (yield Read(8)))
            tally.add_frames(max(frames, 1) - 1)  # the IHDR image counts as one
            yield Skip(length - 8 + 4)
        elif kind in (b"IDAT", b"IEND"):
            return
        else:
            yield Skip(length + 4)
