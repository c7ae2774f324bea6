"""WebP: RIFF chunks (VP8X canvas, VP8/VP8L bitstream headers) and ANMF frames.

Container per RFC 9649 (WebP Image Format) sections 2.5-2.7; chunk sizes are padded to even.
"""

from __future__ import annotations

import struct

from pipeline.imaging.scan.stream import Parser, Read, Skip
from pipeline.imaging.scan.tally import Tally

MIME = "image/webp"


def parse(tally: Tally) -> Parser:
    (riff_size,) = struct.unpack_from("<I", (yield Read(12)), 4)
    pos, end = 12, 8 + riff_size
    while pos + 8 <= end:
        kind, length = struct.unpack("<4sI", (yield Read(8)))
        padded = length + (length & 1)
        pos += 8 + padded
        if kind == b"VP8X" and tally.header is None and length >= 10:
            body = yield Read(10)
            width = 1 + int.from_bytes(body[4:7], "little")
            height = 1 + int.from_bytes(body[7:10], "little")
            tally.found(MIME, width, height)
            padded -= 10
        elif kind == b"VP8 " and tally.header is None and length >= 10:
            body = yield Read(10)
            if body[3:6] == b"\x9d\x01\x2a":  # key frame start code (RFC 6386 section 9.1)
                w, h = struct.unpack_from("<HH", body, 6)
                tally.found(MIME, w & 0x3FFF, h & 0x3FFF)
            return
        elif kind == b"VP8L" and tally.header is None and length >= 5:
            body = yield Read(5)
            if body[0] == 0x2F:  # signature (WebP lossless bitstream spec section 3.1)
                bits = int.from_bytes(body[1:5], "little")
                tally.found(MIME, (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
            return
        elif kind == b"ANMF":
            tally.add_frames()
        yield Skip(padded)
