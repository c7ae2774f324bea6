"""ThumbHash: a ~25-byte placeholder that a browser paints while the thumbnail loads.

A pure-Python port of the published algorithm (Evan Wallace, https://evanw.github.io/thumbhash/,
MIT): the image, at most 100 x 100, is converted to luminance, two chroma channels and alpha,
and a handful of low-frequency DCT coefficients of each are quantised to 4 bits.

Why it is ours: the PyPI ports are unmaintained, and this is part of the image pipeline
itself. It reproduces the reference's arithmetic exactly (the same order of every float
operation, sums left to right, JavaScript's ``Math.round``), so hashes equal the reference
encoder's byte for byte: ``tests/unit/test_thumbhash_reference.py`` runs the npm
``thumbhash`` package on the same pixels. The sums run in C through ``map`` and
``functools.reduce``: ~3 ms for the 32 x 32 placeholder the render pipeline hashes.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from itertools import repeat
from operator import add, mul

MAX_SIDE = 100


def _round(x: float) -> int:
    """JavaScript's ``Math.round``: the nearest integer, halves towards +infinity."""
    floor = math.floor(x)
    return floor + 1 if x - floor >= 0.5 else floor


def _sum(values: Iterable[float]) -> float:
    """Left to right, like the reference's ``+=`` loop (Python 3.12's sum compensates)."""
    return reduce(add, values, 0.0)


def rgba_to_thumbhash(w: int, h: int, rgba: bytes) -> bytes:
    """Encode ``w`` x ``h`` RGBA pixels (8 bits each, at most 100 x 100) as a ThumbHash."""
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE) or len(rgba) != w * h * 4:
        raise ValueError(f"{w}x{h} RGBA of {len(rgba)} bytes: need <=100x100, 4 bytes a pixel")
    alpha = [a / 255 for a in rgba[3::4]]
    total_a = _sum(alpha)
    avg = [0.0, 0.0, 0.0]
    if total_a:
        for c in range(3):
            avg[c] = _sum(a / 255 * v for a, v in zip(alpha, rgba[c::4], strict=True)) / total_a
    has_alpha = total_a < w * h
    l_limit = 5 if has_alpha else 7  # fewer luminance bits when alpha needs some
    lx = max(1, _round(l_limit * w / max(w, h)))
    ly = max(1, _round(l_limit * h / max(w, h)))

    # RGBA -> LPQA, composited over the average colour.
    r = [avg[0] * (1 - a) + a / 255 * v for a, v in zip(alpha, rgba[0::4], strict=True)]
    g = [avg[1] * (1 - a) + a / 255 * v for a, v in zip(alpha, rgba[1::4], strict=True)]
    b = [avg[2] * (1 - a) + a / 255 * v for a, v in zip(alpha, rgba[2::4], strict=True)]
    lum = [(ri + gi + bi) / 3 for ri, gi, bi in zip(r, g, b, strict=True)]
    p = [(ri + gi) / 2 - bi for ri, gi, bi in zip(r, g, b, strict=True)]
    q = [ri - gi for ri, gi in zip(r, g, strict=True)]

    l_dc, l_ac, l_scale = _encode_channel(lum, w, h, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _encode_channel(p, w, h, 3, 3)
    q_dc, q_ac, q_scale = _encode_channel(q, w, h, 3, 3)
    landscape = w > h
    header24 = (
        _round(63 * l_dc)
        | (_round(31.5 + 31.5 * p_dc) << 6)
        | (_round(31.5 + 31.5 * q_dc) << 12)
        | (_round(31 * l_scale) << 18)
        | (int(has_alpha) << 23)
    )
    header16 = (
        (ly if landscape else lx)
        | (_round(63 * p_scale) << 3)
        | (_round(63 * q_scale) << 9)
        | (int(landscape) << 15)
    )
    out = [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    acs = [l_ac, p_ac, q_ac]
    if has_alpha:
        a_dc, a_ac, a_scale = _encode_channel(alpha, w, h, 5, 5)
        out.append(_round(15 * a_dc) | (_round(15 * a_scale) << 4))
        acs.append(a_ac)
    start = len(out)
    index = 0
    for ac in acs:
        for f in ac:
            if start + (index >> 1) >= len(out):
                out.append(0)
            out[start + (index >> 1)] |= _round(15 * f) << ((index & 1) << 2)
            index += 1
    return bytes(out)


def _encode_channel(
    channel: Sequence[float], w: int, h: int, nx: int, ny: int
) -> tuple[float, list[float], float]:
    """DC term, AC terms (normalised to 0..1) and their scale, as the reference computes them."""
    dc, scale, ac = 0.0, 0.0, []
    for cy in range(ny):
        # fy per pixel, row by row: the reference multiplies channel * fx * fy in that order.
        fy = [f for y in range(h) for f in repeat(math.cos(math.pi / h * cy * (y + 0.5)), w)]
        cx = 0
        while cx * ny < nx * (ny - cy):
            fx = [math.cos(math.pi / w * cx * (x + 0.5)) for x in range(w)] * h
            f = _sum(map(mul, map(mul, channel, fx), fy)) / (w * h)
            if cx or cy:
                ac.append(f)
                scale = max(scale, abs(f))
            else:
                dc = f
            cx += 1
    if scale:
        ac = [0.5 + 0.5 / scale * f for f in ac]
    return dc, ac, scale


@dataclass(frozen=True)
class ThumbHashInfo:
    """What a ThumbHash says without painting it: aspect ratio and render size."""

    aspect_ratio: float
    width: int
    height: int
    has_alpha: bool


def describe(hash_bytes: bytes) -> ThumbHashInfo:
    """Aspect ratio and the size the reference decoder paints (32 px on the long side)."""
    if len(hash_bytes) < 5:
        raise ValueError("a ThumbHash has at least 5 bytes")
    has_alpha = bool(hash_bytes[2] & 0x80)
    landscape = bool(hash_bytes[4] & 0x80)
    header = hash_bytes[3]
    lx = (5 if has_alpha else 7) if landscape else header & 7
    ly = header & 7 if landscape else (5 if has_alpha else 7)
    ratio = lx / ly
    width = _round(32 if ratio > 1 else 32 * ratio)
    height = _round(32 / ratio if ratio > 1 else 32)
    return ThumbHashInfo(ratio, width, height, has_alpha)


def encode_base64(hash_bytes: bytes) -> str:
    """The form stored in the catalog and sent to browsers."""
    return base64.b64encode(hash_bytes).decode("ascii")
