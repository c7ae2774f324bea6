"""Camera RAW test inputs built in code: TIFF-structured files with a preview and a CFA image.

:func:`dng_bytes` lays out a DNG the way cameras and converters do - IFD0 a small RGB preview,
the Bayer (RGGB) sensor image in a SubIFD - with the upright test scene mosaicked into it, so
a renderer that shows the preview gives the wrong size and one that orients wrongly moves the
scene's bright corner. IFD0 comes after the pixel data (as libtiff writes it), its SubIFD
just before or after it.
"""

from __future__ import annotations

import struct

import numpy as np
import pyvips

from tests.images import scene

Entry = tuple[int, int, int, bytes]  # tag, type, count, value (packed little-endian)
_ORIENT_STORE = {1: lambda im: im, 3: lambda im: im.rot180(), 6: lambda im: im.rot270()}
_ORIENT_STORE[8] = lambda im: im.rot90()


def short(tag: int, *values: int) -> Entry:
    return tag, 3, len(values), struct.pack(f"<{len(values)}H", *values)


def long(tag: int, *values: int) -> Entry:
    return tag, 4, len(values), struct.pack(f"<{len(values)}I", *values)


def ascii_(tag: int, text: str) -> Entry:
    raw = text.encode() + b"\0"
    return tag, 2, len(raw), raw


def byte(tag: int, *values: int) -> Entry:
    return tag, 1, len(values), bytes(values)


def tiff_file(
    ifd0: list[Entry], subs: list[list[Entry]], blobs: list[bytes], *, subs_first: bool
) -> bytes:
    """Little-endian TIFF: blobs (pixel data), IFDs with out-of-line values after each.

    Entries may refer to blob ``i`` through the value ``BLOB + i`` (StripOffsets) and IFD0
    gets SubIFDs (330) pointing at ``subs``.
    """
    out = bytearray(b"II*\x00\0\0\0\0")
    blob_at = []
    for blob in blobs:
        blob_at.append(len(out))
        out += blob + b"\0" * (len(blob) & 1)

    def emit(entries: list[Entry], next_ifd: int = 0) -> int:
        start = len(out)
        entries = sorted(entries)
        values_at = start + 2 + 12 * len(entries) + 4
        heap = bytearray()
        body = bytearray(struct.pack("<H", len(entries)))
        for tag, kind, count, given in entries:
            value = given
            if kind == 4 and tag == 273:  # StripOffsets: blob index -> file offset
                value = struct.pack("<I", blob_at[struct.unpack("<I", given)[0]])
            if len(value) > 4:
                field = struct.pack("<I", values_at + len(heap))
                heap += value + b"\0" * (len(value) & 1)
            else:
                field = value.ljust(4, b"\0")
            body += struct.pack("<HHI", tag, kind, count) + field
        body += struct.pack("<I", next_ifd)
        out.extend(body + heap)
        return start

    if subs_first:  # SubIFDs just before IFD0: a backward offset (scanner's look-back)
        sub_at = [emit(sub) for sub in subs]
        first = emit([*ifd0, long(330, *sub_at)] if subs else ifd0)
    else:  # IFD0, then its SubIFDs: patch the SubIFDs offsets once they are known
        placeholder = 0xFFFFFFF0
        first = emit([*ifd0, long(330, *([placeholder] * len(subs)))] if subs else ifd0)
        sub_at = [emit(sub) for sub in subs]
        patched = struct.pack(f"<{len(subs)}I", *sub_at)
        at = out.index(struct.pack(f"<{len(subs)}I", *([placeholder] * len(subs))), first)
        out[at : at + len(patched)] = patched
    out[4:8] = struct.pack("<I", first)
    return bytes(out)


def mosaic(width: int, height: int, orientation: int = 1) -> bytes:
    """16-bit RGGB sensor data of the test scene stored for ``orientation`` (1, 3, 6 or 8)."""
    stored = _ORIENT_STORE[orientation](scene(width, height))
    rgb = np.ndarray(
        (stored.height, stored.width, 3), dtype=np.uint8, buffer=stored.write_to_memory()
    ).astype(np.uint16)
    raw = np.empty((stored.height, stored.width), dtype=np.uint16)
    raw[0::2, 0::2] = rgb[0::2, 0::2, 0]
    raw[0::2, 1::2] = rgb[0::2, 1::2, 1]
    raw[1::2, 0::2] = rgb[1::2, 0::2, 1]
    raw[1::2, 1::2] = rgb[1::2, 1::2, 2]
    return (raw * 256).astype("<u2").tobytes()


def preview(width: int, height: int) -> bytes:
    small = scene(width, height).colourspace("srgb")
    return bytes(small.write_to_memory())


def dng_bytes(
    width: int = 640,
    height: int = 480,
    *,
    orientation: int = 1,
    subs_first: bool = True,
    make: str = "GalleryCam",
    dng: bool = True,
) -> bytes:
    """A DNG whose IFD0 is a 160x120 preview and whose SubIFD holds the sensor image.

    ``width`` x ``height`` is the upright size. ``dng=False`` leaves out DNGVersion (then
    only the CFA image and ``make`` say it is a RAW, as in a NEF or ARW).
    """
    sw, sh = (height, width) if orientation in (6, 8) else (width, height)
    pw, ph = 160, 120
    ifd0 = [
        long(254, 1),
        long(256, pw),
        long(257, ph),
        short(258, 8, 8, 8),
        short(259, 1),
        short(262, 2),
        ascii_(271, make),
        ascii_(272, "GC-RAW"),
        long(273, 0),
        short(274, orientation),
        short(277, 3),
        long(278, ph),
        long(279, pw * ph * 3),
        ascii_(50708, f"{make} GC-RAW"),
    ]
    if dng:
        ifd0 += [byte(50706, 1, 4, 0, 0), byte(50707, 1, 1, 0, 0)]
    sensor = [
        long(254, 0),
        long(256, sw),
        long(257, sh),
        short(258, 16),
        short(259, 1),
        short(262, 32803),
        long(273, 1),
        short(277, 1),
        long(278, sh),
        long(279, sw * sh * 2),
        short(33421, 2, 2),
        byte(33422, 0, 1, 1, 2),
        long(50717, 65535),  # WhiteLevel
    ]
    return tiff_file(
        ifd0, [sensor], [preview(pw, ph), mosaic(width, height, orientation)], subs_first=subs_first
    )


__all__ = ["dng_bytes", "pyvips"]
