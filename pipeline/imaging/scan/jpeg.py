"""JPEG: walk the marker segments to the frame header, then count the scans (ITU T.81 annex B).

Segments before the frame header (APPn: EXIF, XMP - 1 MB and more of it in phone portraits -
ICC, COM) are skipped by their length without being kept. After the frame header the entropy-
coded data is searched for markers: inside it every 0xFF data byte is followed by a stuffed
0x00 (T.81 B.1.1.5), so the next ``0xFF`` + code is always a real marker, and each SOS is one
scan. A progressive JPEG's decode cost grows with its scans (~10 from usual encoders, 14000
in a known decode bomb); past the limit the rest is only counted (``bytes.count``).
"""

from __future__ import annotations

import struct

from pipeline.domain.errors import UndecodableImage
from pipeline.imaging.scan.stream import FIND_MARKER, CountRest, Parser, Read, Skip
from pipeline.imaging.scan.tally import Tally

MIME = "image/jpeg"
SOS, EOI, TEM = 0xDA, 0xD9, 0x01
# SOF0..SOF15 less DHT (C4), JPG (C8) and DAC (CC), which share the range (T.81 table B.1).
SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def parse(tally: Tally) -> Parser:
    yield Read(2)  # SOI, checked by the sniffer
    frame = False
    while True:
        marker = (yield FIND_MARKER)[0]
        if marker == EOI:
            return
        if marker == TEM or 0xD0 <= marker <= 0xD8:  # no length field (RSTn, SOI)
            continue
        (length,) = struct.unpack(">H", (yield Read(2)))
        if length < 2:
            raise UndecodableImage(f"JPEG segment {marker:#04x} has length {length}")
        if marker in SOF and not frame:
            body = yield Read(length - 2)
            if len(body) < 5:
                raise UndecodableImage("JPEG frame header is too short")
            height, width = struct.unpack_from(">HH", body, 1)
            tally.found(MIME, width, height)
            frame = True
            continue
        if marker == SOS:
            if not frame:
                raise UndecodableImage("JPEG scan before the frame header")
            tally.add_scans()
            if tally.too_many_scans:
                yield CountRest(b"\xff\xda", tally.add_scans)
        yield Skip(length - 2)
