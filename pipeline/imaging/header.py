"""Read image dimensions from a *partial* file, where libvips cannot.

libvips reads JPEG, PNG and GIF headers from the first bytes alone, but its WebP, TIFF and
HEIF/AVIF loaders want the whole file (libwebp parses every chunk; TIFF may keep its IFD
at the end; libheif seeks to the end of ``mdat``). The gateway probes only the first
``probe_bytes`` of an upload, so for those formats :mod:`pipeline.imaging.probe` falls back to
these small parsers of the container structures. They read sizes only, never pixels. The
worker checks the limits again with libvips on the whole file.
"""

from __future__ import annotations

import struct

Dimensions = tuple[int, int, int]  # width, height, frames (a lower bound on a partial file)


def partial_dimensions(mime: str, head: bytes) -> Dimensions | None:
    """Width, height and frames from the container headers in ``head``, or ``None``."""
    try:
        if mime == "image/webp":
            return _webp(head)
        if mime == "image/tiff":
            return _tiff(head)
        if mime in ("image/heic", "image/avif"):
            return _isobmff(head)
    except (struct.error, IndexError, ValueError):
        return None
    return None


def _webp(head: bytes) -> Dimensions | None:
    pos, first = 12, True
    frames = 0
    size: tuple[int, int] | None = None
    while pos + 8 <= len(head):
        fourcc, length = head[pos : pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        body = head[pos + 8 : pos + 8 + min(length, 30)]
        if fourcc == b"VP8X" and first:
            width = 1 + int.from_bytes(body[4:7], "little")
            height = 1 + int.from_bytes(body[7:10], "little")
            size = (width, height)
        elif fourcc == b"VP8 " and size is None and body[3:6] == b"\x9d\x01\x2a":
            w, h = struct.unpack_from("<HH", body, 6)
            return w & 0x3FFF, h & 0x3FFF, 1
        elif fourcc == b"VP8L" and size is None and body[:1] == b"\x2f":
            bits = int.from_bytes(body[1:5], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 1
        elif fourcc == b"ANMF":
            frames += 1
        first = False
        pos += 8 + length + (length & 1)  # chunks are padded to even sizes
    return (size[0], size[1], max(frames, 1)) if size else None


def _tiff(head: bytes) -> Dimensions | None:
    order = "<" if head[:2] == b"II" else ">"
    if struct.unpack_from(order + "H", head, 2)[0] != 42:
        return None  # BigTIFF: too rare in uploads to parse here
    offset = struct.unpack_from(order + "I", head, 4)[0]
    count = struct.unpack_from(order + "H", head, offset)[0]
    values: dict[int, int] = {}
    for i in range(count):
        tag, kind, _n, raw = struct.unpack_from(order + "HHI4s", head, offset + 2 + 12 * i)
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
            fmt = "H" if kind == 3 else "I"
            values[tag] = struct.unpack_from(order + fmt, raw)[0]
    if 256 in values and 257 in values:
        return values[256], values[257], 1
    return None


def _isobmff(head: bytes) -> Dimensions | None:
    # Image sizes live in 'ispe' properties under meta/iprp/ipco. A grid image's ispe is the
    # full size and its tiles' are smaller, so the largest one is the image (rotation by
    # 'irot' swaps the sides, which changes neither the pixel count nor the longest side).
    best: tuple[int, int] | None = None
    for box, body in _boxes(head, 0, len(head), path=(b"meta", b"iprp", b"ipco")):
        if box == b"ispe" and len(body) >= 12:
            w, h = struct.unpack_from(">II", body, 4)
            if best is None or w * h > best[0] * best[1]:
                best = (w, h)
    return (best[0], best[1], 1) if best else None


def _boxes(data: bytes, start: int, end: int, path: tuple[bytes, ...]) -> list[tuple[bytes, bytes]]:
    """Leaf boxes reached by descending through the boxes named in ``path``."""
    found: list[tuple[bytes, bytes]] = []
    pos = start
    while pos + 8 <= end:
        size, box = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:
            size = end - pos
        if size < header:
            break
        body_start, body_end = pos + header, min(pos + size, end)
        if path and box == path[0]:
            skip = 4 if box == b"meta" else 0  # meta is a FullBox: version and flags first
            found += _boxes(data, body_start + skip, body_end, path[1:])
        elif not path:
            found.append((box, data[body_start:body_end]))
        pos += size
    return found
