"""PNG: walk the chunks to IHDR (size) and acTL (APNG frame count), stop at the image data.

Chunk layout per the PNG spec (ISO/IEC 15948, W3C PNG 3rd ed. section 5.3): length, type,
data, CRC. acTL must come before the first IDAT (APNG spec), so IDAT ends the header.

Frames (APNG, W3C PNG 3rd ed. section 4.9): acTL's ``num_frames`` counts the animation's
frames, one ``fcTL`` each. The default image (IDAT) is the first of them when an fcTL comes
before it; otherwise it is an extra image outside the animation, and the file holds
``num_frames + 1`` images.
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
    animated = framed_default = False
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
            animated = frames > 0  # 0 is invalid: decoders show the default image alone
            tally.add_frames(frames)
            yield Skip(length - 8 + 4)
        elif kind == b"fcTL":
            framed_default = True  # before IDAT: the default image is the first frame
            yield Skip(length + 4)
        elif kind in (b"IDAT", b"IEND"):
            if animated and not framed_default:
                tally.add_frames(1)  # the default image, outside the animation
            return
        else:
            yield Skip(length + 4)
