"""Rendition specs: what the worker renders for every image.

A spec is a tuple of :class:`RenditionSpec`. Each rendition carries a ``spec_hash`` of its
parameters, used in its object key (``renditions/{tenant}/{image}/{name}-{spec_hash}.{ext}``),
so changing any parameter - or the render code, through :data:`PIPELINE_VERSION` - yields a new
key and ``gallery backfill`` knows what is out of date.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from pipeline.domain.errors import ConfigurationError

# Bump when a change of the render code changes the pixels of existing renditions (a new
# resampling kernel, a different colour conversion...): every spec_hash changes with it, so a
# backfill re-renders everything.
PIPELINE_VERSION = 1

Format = Literal["webp", "jpeg", "avif", "png"]
Crop = Literal["attention", "centre", "none"]

_EXTENSIONS: dict[str, str] = {"webp": "webp", "jpeg": "jpg", "avif": "avif", "png": "png"}
_CONTENT_TYPES: dict[str, str] = {
    "webp": "image/webp",
    "jpeg": "image/jpeg",
    "avif": "image/avif",
    "png": "image/png",
}

# A video's web-playable preview is stored as the rendition of this name.
RESERVED_NAME = "video"
# Renditions the worker adds beside the spec's, with what each holds (said when refused).
RESERVED_NAMES: dict[str, str] = {
    RESERVED_NAME: "a video's preview",
    "tiles": "a large photo's deep-zoom tiles",
    "animated": "an animated image's animation",
    "motion": "a motion photo's video",
}

# Larger renditions than this are a configuration mistake (and a memory risk), not a wish.
MAX_RENDITION_SIDE = 8192


class RenditionSpec(BaseModel):
    """One rendition: a box, how the image goes into it, and how it is encoded.

    With ``crop="none"`` the image is fitted inside ``width`` x ``height`` keeping its aspect
    ratio (so ``width == height == 1280`` means "1280 on the long edge"); with ``"attention"``
    or ``"centre"`` it fills the box and the excess is cropped (smart crop or centre crop).
    Images smaller than the box are never enlarged unless ``upscale`` is set.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_]{0,31}$")
    width: int = Field(ge=1, le=MAX_RENDITION_SIDE)
    height: int = Field(ge=1, le=MAX_RENDITION_SIDE)
    crop: Crop = "none"
    format: Format
    quality: int = Field(80, ge=1, le=100)
    upscale: bool = False

    @property
    def spec_hash(self) -> str:
        """12 hex chars of SHA-256 over the canonical JSON of every parameter."""
        canonical = json.dumps(
            {"v": PIPELINE_VERSION, **self.model_dump()}, sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def extension(self) -> str:
        """File extension of the encoded rendition, without the dot."""
        return _EXTENSIONS[self.format]

    @property
    def content_type(self) -> str:
        """MIME type of the encoded rendition."""
        return _CONTENT_TYPES[self.format]


class VideoRenditionSpec(BaseModel):
    """The ``video`` rendition of a video (its web-playable preview), as the spec's entry
    named ``video``: ``codec`` (``h264``: H.264/AAC in MP4, plays everywhere; ``vp9`` or
    ``av1``: with Opus in WebM, smaller, not in every Safari), the box it fits in
    (``width`` x ``height``, either orientation, never enlarged), ``crf`` (the encoder's own
    quality scale, lower is better: x264 0-51, VP9 and AV1 0-63; None: its default),
    ``preset`` (its speed knob: x264's names, VP9's cpu-used 0-8, AV1's 0-13; None: its
    default), ``max_bitrate`` and ``audio_bitrate`` in bits/s."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["video"]
    codec: Literal["h264", "vp9", "av1"] = "h264"
    width: int = Field(1920, ge=16, le=MAX_RENDITION_SIDE)
    height: int = Field(1080, ge=16, le=MAX_RENDITION_SIDE)
    crf: int | None = Field(None, ge=0, le=63)
    preset: str | None = Field(None, pattern=r"^[a-z0-9]{1,16}$")
    max_bitrate: int = Field(5_000_000, ge=100_000, le=200_000_000)
    audio_bitrate: int = Field(128_000, ge=16_000, le=512_000)


_VIDEO = TypeAdapter(VideoRenditionSpec)


class _Spec(BaseModel):
    renditions: tuple[RenditionSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> _Spec:
        names = [r.name for r in self.renditions]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rendition names must be unique, repeated: {', '.join(duplicates)}")
        reserved = sorted(set(names) & set(RESERVED_NAMES))
        if reserved:
            owned = ", ".join(f"{name} ({RESERVED_NAMES[name]})" for name in reserved)
            raise ValueError(f"rendition names reserved for the worker's own: {owned}")
        return self


DEFAULT_SPEC: tuple[RenditionSpec, ...] = (
    RenditionSpec(name="thumb", width=256, height=256, crop="attention", format="webp", quality=75),
    RenditionSpec(name="preview", width=1280, height=1280, format="webp", quality=80),
    RenditionSpec(name="large", width=2048, height=2048, format="jpeg", quality=85),
)

_LIST = TypeAdapter(list[object])


def parse_spec(text: str) -> tuple[RenditionSpec, ...]:
    """Parse ``GALLERY_RENDITIONS``: a JSON list of renditions, or ``""`` for the default.

    Raises :class:`ConfigurationError` naming every problem (bad JSON, unknown or invalid
    fields, duplicate names, an empty list).
    """
    return _parse(text)[0]


def parse_video_spec(text: str) -> VideoRenditionSpec | None:
    """The entry of ``GALLERY_RENDITIONS`` named ``video`` (None: the default preview).
    Raises :class:`ConfigurationError` as :func:`parse_spec` does."""
    return _parse(text)[1]


def _parse(text: str) -> tuple[tuple[RenditionSpec, ...], VideoRenditionSpec | None]:
    if not text.strip():
        return DEFAULT_SPEC, None
    try:
        items = _LIST.validate_json(text)
    except ValidationError as exc:
        raise ConfigurationError(f"renditions: not a JSON list: {_describe(exc)}") from exc
    video = [i for i in items if isinstance(i, dict) and i.get("name") == RESERVED_NAME]
    images = [i for i in items if not (isinstance(i, dict) and i.get("name") == RESERVED_NAME)]
    if len(video) > 1:
        raise ConfigurationError("renditions: one entry named video (a video's preview), not two")
    try:
        preview = _VIDEO.validate_python(video[0]) if video else None
    except ValidationError as exc:
        fields = ", ".join(f for f in VideoRenditionSpec.model_fields if f != "name")
        raise ConfigurationError(
            f"renditions: the name video is reserved for a video's preview, whose entry "
            f"takes {fields}: {_describe(exc)}"
        ) from exc
    try:
        return _Spec.model_validate({"renditions": images}).renditions, preview
    except ValidationError as exc:
        raise ConfigurationError(f"renditions: {_describe(exc)}") from exc


def spec_hashes(spec: Sequence[RenditionSpec]) -> dict[str, str]:
    """Map rendition name to spec_hash (what a backfill compares against stored keys)."""
    return {r.name: r.spec_hash for r in spec}


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error["loc"] if p != "renditions"]
        where = ".".join(loc)
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)
