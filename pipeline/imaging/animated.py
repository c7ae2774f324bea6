"""The ``animated`` rendition: an animated GIF, WebP or PNG (APNG) as an animated WebP that
browsers play.

Every other rendition shows the first frame. This one keeps the frames, their delays and the
loop count, shrunk so that it stays bounded by ``GALLERY_LIMITS_ANIMATED_*``: at most
``animated_max_frames`` frames (the first ones), each at most ``animated_max_side`` on its
long side and all of them together at most ``animated_max_pixels``; an encoding over
``animated_max_bytes`` is tried again at half the size (twice), then left out (the image
keeps its still renditions and says why in its metadata). Not animated yet: a GIF whose first
frame leaves part of the canvas uncovered (libnsgif fills the gap; only the stills are
corrected for it).

libvips loads every frame of a GIF or WebP; of a PNG it reads the default image only, so an
APNG's frames come from FFmpeg's APNG decoder (PyAV, already here for videos), which applies
each frame's disposal and blending and gives whole-canvas frames with their durations.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import struct
from dataclasses import dataclass

import av

from pipeline.imaging import vips
from pipeline.imaging.encode import WEBP_EFFORT
from pipeline.imaging.spec import PIPELINE_VERSION
from pipeline.runtime.settings import LimitsSettings

NAME = "animated"
QUALITY = 75
ANIMATED_TYPES = ("image/gif", "image/webp", "image/png")
_HALVINGS = 2
_DEFAULT_DELAY_MS = 100  # a frame without a delay (what browsers show it for)


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
    original: bytes,
    size: tuple[int, int],
    frames: int,
    limits: LimitsSettings,
    mime: str = "image/gif",
) -> Animation | None:
    """The animated WebP of ``original`` (``size`` one frame's, ``frames`` in the file,
    ``mime`` its type), or None when even a quarter-size encoding is over
    ``animated_max_bytes``."""
    kept = min(frames, limits.animated_max_frames)
    box = frame_box(size, kept, limits)
    for _ in range(_HALVINGS + 1):
        strip = (
            _apng_strip(original, box, kept) if mime == "image/png" else _strip(original, box, kept)
        )
        animation = _encode(strip)
        if len(animation.data) <= limits.animated_max_bytes:
            return animation
        box = (max(1, box[0] // 2), max(1, box[1] // 2))
    return None


@dataclass(frozen=True)
class _Strip:
    """The kept frames stacked top to bottom, each ``page_height`` rows, and their delays."""

    image: vips.Image
    page_height: int
    delays: tuple[int, ...]


def _strip(original: bytes, box: tuple[int, int], kept: int) -> _Strip:
    """GIF and WebP: libvips loads the frames; thumbnail resizes each stacked page on its own
    (and keeps the loader's ``loop``)."""
    image = vips.Image.thumbnail_buffer(
        original, box[0], height=box[1], size="down", option_string=f"n={kept}"
    )
    page_height = image.get("page-height") if image.get_typeof("page-height") else image.height
    return _Strip(image, page_height, _delays(image, image.height // page_height))


def _apng_strip(original: bytes, box: tuple[int, int], kept: int) -> _Strip:
    """APNG: the first ``kept`` whole-canvas frames as FFmpeg composes them, each resized into
    ``box``; the loop count from ``acTL``."""
    pages: list[vips.Image] = []
    delays: list[int] = []
    with av.open(io.BytesIO(original), "r", format="apng") as container:
        for frame in container.decode(container.streams.video[0]):
            rgba = frame.reformat(format="rgba")
            plane = rgba.planes[0]  # rows padded to line_size bytes
            page = vips.Image.new_from_memory(
                bytes(plane), plane.line_size // 4, rgba.height, 4, "uchar"
            ).crop(0, 0, rgba.width, rgba.height)
            page = page.copy(interpretation="srgb")
            # Resized now, in memory: a lazy page would hold its whole-canvas frame until the
            # encoder ran (200 frames of 12 MP: 9.6 GB), a resized one holds only itself.
            pages.append(page.thumbnail_image(box[0], height=box[1], size="down").copy_memory())
            time_base = frame.time_base
            if frame.duration and time_base is not None:
                delays.append(round(frame.duration * time_base * 1000))
            else:
                delays.append(_DEFAULT_DELAY_MS)
            if len(pages) == kept:
                break
    image = vips.Image.arrayjoin(pages, across=1).copy()
    image.set_type(vips.GValueInt, "loop", _apng_loop(original))
    return _Strip(image, pages[0].height, tuple(delays))


def _apng_loop(original: bytes) -> int:
    """``acTL``'s ``num_plays`` (0: forever, as WebP's loop count), found by the header scan
    before this runs: the chunk is there, ahead of the image data."""
    at = original.find(b"acTL", 8)
    return struct.unpack_from(">I", original, at + 8)[0] if at > 0 else 0


def _encode(strip: _Strip) -> Animation:
    image = strip.image
    if image.interpretation != "srgb" or image.format != "uchar":
        image = image.colourspace("srgb").cast("uchar")
    image = image.copy()
    image.set_type(vips.GValueInt, "page-height", strip.page_height)
    image.set_type(vips.GValueArrayInt, "delay", list(strip.delays))
    data = image.webpsave_buffer(Q=QUALITY, effort=WEBP_EFFORT, keep="none")
    count = image.height // strip.page_height
    return Animation(bytes(data), image.width, strip.page_height, count, strip.delays)


def _delays(image: vips.Image, count: int) -> tuple[int, ...]:
    """Each kept frame's delay in ms (the loader's array covers every frame of the file)."""
    found = list(image.get("delay")) if image.get_typeof("delay") else []
    found = (found + [100] * count)[:count]
    return tuple(int(d) for d in found)
