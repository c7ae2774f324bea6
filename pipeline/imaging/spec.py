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
    if not text.strip():
        return DEFAULT_SPEC
    try:
        items = _LIST.validate_json(text)
    except ValidationError as exc:
        raise ConfigurationError(f"renditions: not a JSON list: {_describe(exc)}") from exc
    try:
        return _Spec.model_validate({"renditions": items}).renditions
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
