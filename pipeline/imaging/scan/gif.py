"""GIF: logical screen size, then count the image descriptors (frames) to the trailer.

Block layout per the GIF89a specification (sections 18-27): after the header and screen
descriptor come extension blocks (0x21), image descriptors (0x2C), each followed by data
sub-blocks, and the trailer (0x3B).
"""

from __future__ import annotations

import contextlib
import struct

from pipeline.domain.errors import UndecodableImage
from pipeline.imaging.scan.stream import SKIP_SUB_BLOCKS, EndOfStream, Parser, Read, Skip
from pipeline.imaging.scan.tally import Tally

MIME = "image/gif"


def parse(tally: Tally) -> Parser:
    screen = yield Read(13)  # header (6) + logical screen descriptor (7)
    width, height, flags = struct.unpack_from("<HHB", screen, 6)
    tally.found(MIME, width, height)
    yield Skip(_colour_table(flags))
    with contextlib.suppress(EndOfStream):  # truncated: a decoder shows the frames before the cut
        yield from _blocks(tally, width, height)
    if tally.frames == 0:
        raise UndecodableImage("GIF without an image", public_message="the GIF has no image")


def _blocks(tally: Tally, width: int, height: int) -> Parser:
    while True:
        block = (yield Read(1))[0]
        if block == 0x21:  # extension: label, then sub-blocks
            yield Read(1)
            yield SKIP_SUB_BLOCKS
        elif block == 0x2C:  # image descriptor: position, size, flags
            descriptor = yield Read(9)
            if tally.frames == 0:
                left, top, w, h = struct.unpack_from("<HHHH", descriptor)
                if left > 0 or top > 0 or left + w < width or top + h < height:
                    # Browsers show the rest of the canvas transparent (section 20's
                    # background colour is ignored in practice); the renderer must too.
                    tally.first_frame = (left, top, w, h)
            tally.add_frames()
            yield Skip(_colour_table(descriptor[8]) + 1)  # local table, LZW minimum code size
            yield SKIP_SUB_BLOCKS
        else:  # trailer, or garbage after the last frame (decoders stop there too)
            return


def _colour_table(flags: int) -> int:
    return 3 * 2 ** ((flags & 0x07) + 1) if flags & 0x80 else 0
