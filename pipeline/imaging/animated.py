"""The ``animated`` rendition: an animated GIF or WebP as an animated WebP that browsers play.

Every other rendition shows the first frame. This one keeps the frames, their delays and the
loop count, shrunk so that it stays bounded by ``GALLERY_LIMITS_ANIMATED_*``: at most
``animated_max_frames`` frames (the first ones), each at most ``animated_max_side`` on its
long side and all of them together at most ``animated_max_pixels``; an encoding over
``animated_max_bytes`` is tried again at half the size (twice), then left out (the image
keeps its still renditions and says why in its metadata). Not animated yet: APNG (libvips
reads its default image only) and a GIF whose first frame leaves part of the canvas
uncovered (libnsgif fills the gap; only the stills are corrected for it).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

from pipeline.imaging import vips
from pipeline.imaging.encode import WEBP_EFFORT
from pipeline.imaging.spec import PIPELINE_VERSION
from pipeline.runtime.settings import LimitsSettings

NAME = "animated"
QUALITY = 75
# libvips loads every frame of these; a PNG (APNG) loads as one image.
ANIMATED_TYPES = ("image/gif", "image/webp")
_HALVINGS = 2


@dataclass(frozen=True)
class Animation:
    """An encoded animated WebP: its frame size, frame count and per-frame delays (ms)."""

    data: bytes
    width: int
    height: int
    frames: int
    delays: tuple[int, ...]


def spec_hash(limits: LimitsSettings) -> str:
    """Changes with every setting that changes the bytes."""
    params = {
        "v": PIPELINE_VERSION,
        "q": QUALITY,
        "side": limits.animated_max_side,
        "frames": limits.animated_max_frames,
        "pixels": limits.animated_max_pixels,
    }
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


def wants_animation(mime: str, frames: int) -> bool:
    return frames > 1 and mime in ANIMATED_TYPES


def frame_box(size: tuple[int, int], frames: int, limits: LimitsSettings) -> tuple[int, int]:
    """The largest frame size within the side and total-pixel bounds (never enlarged)."""
    width, height = size
    scale = min(
        1.0,
        limits.animated_max_side / max(width, height),
        math.sqrt(limits.animated_max_pixels / (frames * width * height)),
    )
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def render_animation(
    original: bytes, size: tuple[int, int], frames: int, limits: LimitsSettings
) -> Animation | None:
    """The animated WebP of ``original`` (``size`` one frame's, ``frames`` in the file), or
    None when even a quarter-size encoding is over ``animated_max_bytes``."""
    kept = min(frames, limits.animated_max_frames)
    box = frame_box(size, kept, limits)
    for _ in range(_HALVINGS + 1):
        animation = _encode(original, box, kept)
        if len(animation.data) <= limits.animated_max_bytes:
            return animation
        box = (max(1, box[0] // 2), max(1, box[1] // 2))
    return None


def _encode(original: bytes, box: tuple[int, int], kept: int) -> Animation:
    # thumbnail resizes each frame of the stacked pages (page-height) on its own.
    image = vips.Image.thumbnail_buffer(
        original, box[0], height=box[1], size="down", option_string=f"n={kept}"
    )
    page_height = image.get("page-height") if image.get_typeof("page-height") else image.height
    count = image.height // page_height
    delays = _delays(image, count)
    if image.interpretation != "srgb" or image.format != "uchar":
        image = image.colourspace("srgb").cast("uchar")
    image = image.copy()
    image.set_type(vips.GValueInt, "page-height", page_height)
    image.set_type(vips.GValueArrayInt, "delay", list(delays))
    data = image.webpsave_buffer(Q=QUALITY, effort=WEBP_EFFORT, keep="none")
    return Animation(bytes(data), image.width, page_height, count, delays)


def _delays(image: vips.Image, count: int) -> tuple[int, ...]:
    """Each kept frame's delay in ms (the loader's array covers every frame of the file)."""
    found = list(image.get("delay")) if image.get_typeof("delay") else []
    found = (found + [100] * count)[:count]
    return tuple(int(d) for d in found)
