"""Fujifilm RAF: a fixed big-endian header pointing at the CFA header records.

Layout as LibRaw and ExifTool read it (there is no public specification): magic
``FUJIFILMCCD-RAW `` at 0, the CFA header's offset at 0x5C; the CFA header is a record count
then (tag, size, data) records, tag 0x100 holding the raw height and width.
"""

from __future__ import annotations

import struct

from pipeline.domain.errors import UndecodableImage
from pipeline.imaging.scan.stream import Parser, Read, Skip
from pipeline.imaging.scan.tally import Tally

MIME = "image/x-fuji-raf"
MAGIC = b"FUJIFILMCCD-RAW "
_HEADER = 0x64
_MAX_RECORDS = 256


def parse(tally: Tally) -> Parser:
    header = yield Read(_HEADER)
    (cfa_header,) = struct.unpack_from(">I", header, 0x5C)
    if cfa_header < _HEADER:
        raise UndecodableImage("RAF header points inside itself")
    yield Skip(cfa_header - _HEADER)
    (count,) = struct.unpack(">I", (yield Read(4)))
    for _ in range(min(count, _MAX_RECORDS)):
        tag, size = struct.unpack(">HH", (yield Read(4)))
        if tag == 0x100 and size >= 4:
            height, width = struct.unpack(">HH", (yield Read(4)))
            tally.found(MIME, width, height, raw="RAF")
            return
        yield Skip(size)
    raise UndecodableImage(
        "no raw size in the RAF header", public_message="the RAF header has no image size"
    )
