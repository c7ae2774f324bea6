"""Render an original into every rendition of a spec: a short, named list of steps.

Like imgproxy's processing pipeline, :func:`render_image` runs :data:`STEPS` in order over one
:class:`RenderContext` and checks the deadline between steps::

    probe (scan_header) -> decode (libvips, pi-heif or LibRaw) -> orient -> colour
      -> placeholder -> renditions (resize, encode each) -> tiles (large photos only)
      -> animated (animated GIF, WebP and APNG only: every frame again, as an animated WebP)

The original is decoded ONCE, shrunk on load to the largest size any rendition needs (a JPEG
decodes at 1/2, 1/4 or 1/8 scale for almost no cost), and that master is kept in memory; every
rendition is derived from it. A naive renderer that calls ``thumbnail`` once per rendition
decodes the original once per rendition (see ``docs/benchmarks.md`` for the difference).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from pipeline.domain.errors import ConfigurationError, RenderTimeout, UndecodableImage
from pipeline.imaging import animated, deepzoom, vips
from pipeline.imaging.decode import (
    JPEG_EOI,
    decode_heic,
    decode_jpeg_without_eoi,
    decode_master,
    uncovered_transparent,
)
from pipeline.imaging.encode import encode
from pipeline.imaging.exif import parse_exif
from pipeline.imaging.geometry import Plan, master_box, plan
from pipeline.imaging.icc import is_srgb
from pipeline.imaging.letterbox import is_extreme, letterbox_plan, pad
from pipeline.imaging.raw import decode_raw, raw_size
from pipeline.imaging.scan import ImageHeader, scan_header
from pipeline.imaging.scan.tally import check_size
from pipeline.imaging.spec import RenditionSpec
from pipeline.imaging.thumbhash import encode_base64, rgba_to_thumbhash
from pipeline.runtime.settings import LimitsSettings

# ThumbHash keeps at most 7 x 7 low-frequency terms, which 32 samples a side resolve as well
# as the 100 the algorithm allows; the pure-Python encoder then takes ~3 ms instead of ~27 ms
# (a 10th of the whole render of a 12 MP JPEG on one core).
PLACEHOLDER_SIDE = 32


@dataclass(frozen=True)
class RenderedRendition:
    """One encoded rendition, ready to store under ``{name}-{spec_hash}.{extension}``."""

    name: str
    spec_hash: str
    data: bytes
    width: int
    height: int
    extension: str
    content_type: str
    seconds: float
    path: str | None = None  # a video preview: written to this file, ``data`` left empty


@dataclass(frozen=True)
class RenderResult:
    """Everything the worker stores about one image. Sizes are of the upright original."""

    width: int
    height: int
    frames: int
    metadata: dict[str, object]
    thumbhash: str
    renditions: tuple[RenderedRendition, ...]
    decode_seconds: float
    media: str = "photo"  # or "video", "motion" (a photo with its motion rendition)


@dataclass
class RenderContext:
    """The context the steps share and fill in."""

    original: bytes
    spec: Sequence[RenditionSpec]
    limits: LimitsSettings
    store_gps: bool
    deadline: float | None
    header: ImageHeader | None = None
    orientation: int = 1
    metadata: dict[str, object] = field(default_factory=dict)
    image: vips.Image | None = None
    decode_seconds: float = 0.0
    thumbhash: str = ""
    renditions: list[RenderedRendition] = field(default_factory=list)

    def check_deadline(self, step: str) -> None:
        """Raise :class:`RenderTimeout` if the deadline passed (before ``step``)."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise RenderTimeout(
                f"render deadline passed before step {step!r}",
                public_message="rendering took too long",
            )

    @property
    def upright_size(self) -> tuple[int, int]:
        assert self.header is not None
        w, h = self.header.width, self.header.height
        return (h, w) if self.orientation >= 5 else (w, h)


def _probe(ctx: RenderContext) -> None:
    # Check the limits again on the whole file, with the gateway's scanner: same verdicts.
    ctx.header = scan_header(ctx.original, ctx.limits)
    if ctx.header.raw is not None:
        _probe_raw(ctx, ctx.header.raw)
        return
    meta = vips.Image.new_from_buffer(ctx.original, "", access="sequential")
    exif = meta.get("exif-data") if meta.get_typeof("exif-data") else None
    ctx.metadata = parse_exif(exif, store_gps=ctx.store_gps)
    if ctx.header.mime != "image/heic":  # HEIF rotates by its irot/imir boxes, not EXIF
        orientation = meta.get("orientation") if meta.get_typeof("orientation") else 1
        ctx.orientation = orientation if 1 <= orientation <= 8 else 1
    ctx.metadata["orientation"] = ctx.orientation


def _probe_raw(ctx: RenderContext, name: str) -> None:
    # LibRaw's size of the rendered sensor image (upright: it applies the orientation itself).
    width, height, orientation = raw_size(ctx.original, name)
    check_size(width, height, ctx.limits)
    assert ctx.header is not None
    ctx.header = replace(ctx.header, width=width, height=height)
    ctx.metadata = {"orientation": orientation, "raw_format": name}


def _decode(ctx: RenderContext) -> None:
    assert ctx.header is not None
    started = time.perf_counter()
    box = master_box(ctx.upright_size, ctx.spec)
    if deepzoom.wants_tiles(ctx.upright_size, ctx.limits.deep_zoom_min_side):
        box = ctx.upright_size  # the tiles go down to the original's pixels
    if ctx.header.raw is not None:
        ctx.image = decode_raw(ctx.original, box, ctx.header.raw)
    elif ctx.header.mime == "image/heic":
        ctx.image = decode_heic(ctx.original, box)
    else:
        stored_box = (box[1], box[0]) if ctx.orientation >= 5 else box
        if ctx.header.mime == "image/jpeg" and not ctx.original.endswith(JPEG_EOI):
            ctx.image = decode_jpeg_without_eoi(ctx.original, stored_box)
        else:
            ctx.image = decode_master(ctx.original, stored_box)
        if ctx.header.first_frame is not None:
            canvas = (ctx.header.width, ctx.header.height)
            first = ctx.header.first_frame
            ctx.image = uncovered_transparent(ctx.image, canvas, first, stored_box)
        box = stored_box
    if ctx.header.mime in _ISOBMFF:
        _check_shape(ctx.image, box)
    ctx.decode_seconds = time.perf_counter() - started


# HEIF and AVIF: the scanner and the decoder (libheif) each choose the image to show (the
# primary item), so their sizes are checked against each other.
_ISOBMFF = ("image/heic", "image/avif")


def _check_shape(image: vips.Image, box: tuple[int, int]) -> None:
    """The decoded master must have the shape the header promised (``box``, its size fitted).

    The sizes of the record and every rendition come from the header; a decoder that shows
    another image (a HEIF whose primary item the header scanner missed) would have its master
    forced to them and come out stretched. Such a file fails instead of being stretched.
    """
    width, height = image.width, image.height
    fits = [abs(got - want) <= 2 + want // 50 for got, want in ((width, box[0]), (height, box[1]))]
    if not all(fits):
        raise UndecodableImage(
            f"decoded {width}x{height}, the header says {box[0]}x{box[1]} (fitted)",
            public_message="the image's header and its data disagree on its size",
        )


def _orient(ctx: RenderContext) -> None:
    assert ctx.image is not None
    image = ctx.image.copy()
    image.set_type(vips.GValueInt, "orientation", ctx.orientation)
    ctx.image = image.autorot()


def _colour(ctx: RenderContext) -> None:
    assert ctx.image is not None
    decoded = image = ctx.image
    # Honour an embedded profile (Display P3 phones, Adobe RGB cameras): thumbnail keeps it
    # on the master without converting the pixels. An sRGB profile needs no transform (~20 ms
    # per 2048 px master saved, same pixels). CMYK arrives converted (decode._decode_cmyk);
    # no fallback input profile is ever named (see vips.py).
    if image.get_typeof("icc-profile-data") and not is_srgb(image.get("icc-profile-data")):
        image = image.icc_transform("srgb", embedded=True, intent="perceptual")
    if image.interpretation != "srgb" or image.format != "uchar":
        image = image.colourspace("srgb")  # grey, 16-bit, LAB ... -> 8-bit sRGB
    if image.format != "uchar":
        image = image.cast("uchar")
    if image.bands > 4:  # e.g. CMYK + alpha leftovers: keep colour, drop the extras
        image = image[:3]
    converted = image is not decoded
    image = image.copy(interpretation="srgb")
    for name in ("icc-profile-data", "orientation"):
        if image.get_typeof(name):
            image.remove(name)
    # Materialise the master once: every rendition and the placeholder read it from memory
    # instead of re-running the orient and colour pipeline (libvips is lazy). The decode
    # left it in memory already; copying 9 MB again when nothing changed costs ~6 ms.
    ctx.image = image.copy_memory() if converted or ctx.orientation != 1 else image


def _placeholder(ctx: RenderContext) -> None:
    assert ctx.image is not None
    small = ctx.image.thumbnail_image(PLACEHOLDER_SIDE, height=PLACEHOLDER_SIDE)
    if not small.hasalpha():
        small = small.bandjoin(255)
    rgba = bytes(small.write_to_memory())
    ctx.thumbhash = encode_base64(rgba_to_thumbhash(small.width, small.height, rgba))


def _renditions(ctx: RenderContext) -> None:
    assert ctx.image is not None
    upright = ctx.upright_size
    for rendition in ctx.spec:
        ctx.check_deadline(f"rendition {rendition.name}")
        started = time.perf_counter()
        boxed = rendition.crop != "none" and is_extreme(upright, ctx.limits.letterbox_ratio)
        todo = letterbox_plan(upright, rendition) if boxed else plan(upright, rendition)
        image = _resize(ctx.image, todo)
        if boxed:
            image = pad(image, rendition)
        ctx.check_deadline(f"encode {rendition.name}")
        data = encode(image, rendition)
        ctx.renditions.append(
            RenderedRendition(
                name=rendition.name,
                spec_hash=rendition.spec_hash,
                data=data,
                width=image.width,
                height=image.height,
                extension=rendition.extension,
                content_type=rendition.content_type,
                seconds=time.perf_counter() - started,
            )
        )


def _tiles(ctx: RenderContext) -> None:
    assert ctx.image is not None
    if not deepzoom.wants_tiles(ctx.upright_size, ctx.limits.deep_zoom_min_side):
        return
    started = time.perf_counter()
    data = deepzoom.render_tiles(ctx.image)
    ctx.renditions.append(
        RenderedRendition(
            name=deepzoom.NAME,
            spec_hash=deepzoom.SPEC_HASH,
            data=data,
            width=ctx.image.width,
            height=ctx.image.height,
            extension="zip",
            content_type="application/zip",
            seconds=time.perf_counter() - started,
        )
    )


def _animated(ctx: RenderContext) -> None:
    assert ctx.header is not None
    if not animated.wants_animation(ctx.header.mime, ctx.header.frames):
        return
    if ctx.header.first_frame is not None:
        # libnsgif fills what such a first frame leaves uncovered (and may cut the canvas):
        # the stills are corrected for it (decode.uncovered_transparent), frames are not yet.
        ctx.metadata["animated_omitted"] = "the first frame leaves part of the canvas uncovered"
        return
    started = time.perf_counter()
    size = (ctx.header.width, ctx.header.height)
    done = animated.render_animation(
        ctx.original, size, ctx.header.frames, ctx.limits, ctx.header.mime
    )
    if done is None:
        limit = ctx.limits.animated_max_bytes
        ctx.metadata["animated_omitted"] = f"over animated_max_bytes ({limit} bytes)"
        return
    ctx.metadata["animated_frames"] = done.frames
    ctx.metadata["animated_delays_ms"] = list(done.delays)
    ctx.renditions.append(
        RenderedRendition(
            name=animated.NAME,
            spec_hash=animated.spec_hash(ctx.limits),
            data=done.data,
            width=done.width,
            height=done.height,
            extension="webp",
            content_type="image/webp",
            seconds=time.perf_counter() - started,
        )
    )


def _resize(master: vips.Image, todo: Plan) -> vips.Image:
    image = master
    if (image.width, image.height) != todo.scaled:
        image = image.thumbnail_image(todo.scaled[0], height=todo.scaled[1], size="force")
    if todo.crop != "none" and (image.width, image.height) != todo.size:
        interesting = "attention" if todo.crop == "attention" else "centre"
        image = image.smartcrop(todo.size[0], todo.size[1], interesting=interesting)
    return image


STEPS: tuple[tuple[str, Callable[[RenderContext], None]], ...] = (
    ("probe", _probe),
    ("decode", _decode),
    ("orient", _orient),
    ("colour", _colour),
    ("placeholder", _placeholder),
    ("renditions", _renditions),
    ("tiles", _tiles),
    ("animated", _animated),
)


def render_image(
    original: bytes,
    spec: Sequence[RenditionSpec],
    limits: LimitsSettings,
    *,
    store_gps: bool = False,
    deadline: float | None = None,
) -> RenderResult:
    """Decode ``original`` once and render every rendition of ``spec`` from it.

    Synchronous and CPU-bound (libvips releases the GIL): call it through
    ``asyncio.to_thread``. ``deadline`` is a :func:`time.monotonic` timestamp, checked between
    steps. Raises :class:`UnsupportedMediaType` (also for a camera RAW variant LibRaw cannot
    read), :class:`UndecodableImage` (corrupt or truncated data), :class:`ImageTooLarge`,
    :class:`TooManyFrames`, :class:`TooManyScans` and :class:`RenderTimeout`. Animated images
    render their first frame; camera RAW renders the sensor image (:mod:`.raw`).
    """
    ctx = RenderContext(original, spec, limits, store_gps, deadline)
    for name, step in STEPS:
        ctx.check_deadline(name)
        try:
            step(ctx)
        except vips.Error as exc:
            raise UndecodableImage(
                f"{name}: {vips.error_reason(exc)}",
                public_message="the image data is corrupt or truncated",
            ) from exc
    assert ctx.header is not None
    width, height = ctx.upright_size
    return RenderResult(
        width=width,
        height=height,
        frames=ctx.header.frames,
        metadata=ctx.metadata,
        thumbhash=ctx.thumbhash,
        renditions=tuple(ctx.renditions),
        decode_seconds=ctx.decode_seconds,
    )


def render_from_master(
    image: vips.Image,
    spec: Sequence[RenditionSpec],
    limits: LimitsSettings,
    *,
    deadline: float | None = None,
) -> tuple[str, tuple[RenderedRendition, ...]]:
    """The ThumbHash and every rendition of an image already decoded and upright (a
    video's poster frame): the colour, placeholder and renditions steps of :data:`STEPS`.
    Raises :class:`UndecodableImage` and :class:`RenderTimeout`."""
    header = ImageHeader("image/x-poster", image.width, image.height)
    ctx = RenderContext(b"", spec, limits, False, deadline, header=header, image=image)
    for name, step in (
        ("colour", _colour),
        ("placeholder", _placeholder),
        ("renditions", _renditions),
    ):
        ctx.check_deadline(name)
        try:
            step(ctx)
        except vips.Error as exc:
            raise UndecodableImage(
                f"{name}: {vips.error_reason(exc)}",
                public_message="the video's poster frame cannot be rendered",
            ) from exc
    return ctx.thumbhash, tuple(ctx.renditions)


def check_capabilities(spec: Sequence[RenditionSpec]) -> None:
    """Raise :class:`ConfigurationError` if libvips cannot write a format the spec asks for.

    Call at process start, before reporting ready: each format is actually encoded once (a
    libvips build can list ``heifsave`` yet lack an AV1 encoder).
    """
    probe = vips.Image.black(8, 8, bands=3).copy(interpretation="srgb")
    missing = []
    for rendition in spec:
        try:
            encode(probe, rendition)
        except (vips.Error, KeyError) as exc:
            missing.append(f"{rendition.name}: cannot write {rendition.format} ({exc!s:.80})")
    if missing:
        raise ConfigurationError(
            f"libvips {vips.version()} cannot render the spec: " + "; ".join(missing)
        )
