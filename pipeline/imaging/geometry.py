"""Sizes: what each rendition becomes, and the one master size that serves them all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.imaging.spec import Crop, RenditionSpec


@dataclass(frozen=True)
class Plan:
    """Resize the master to ``scaled``, then (for a crop) cut ``size`` out of it."""

    scaled: tuple[int, int]
    size: tuple[int, int]
    crop: Crop


def plan(upright: tuple[int, int], rendition: RenditionSpec) -> Plan:
    """The output geometry of ``rendition`` for an upright original of ``upright`` size.

    Sizes derive from the original, never from the master, so a rendition's size does not
    depend on what else is in the spec.
    """
    ow, oh = upright
    box_w, box_h = rendition.width, rendition.height
    # Fit inside the box, or (for a crop) cover it and cut the excess.
    fit = rendition.crop == "none"
    scale = (min if fit else max)(box_w / ow, box_h / oh)
    if not rendition.upscale:
        scale = min(scale, 1.0)
    scaled = (max(1, round(ow * scale)), max(1, round(oh * scale)))
    if rendition.crop == "none":
        return Plan(scaled, scaled, "none")
    # Without upscale a small original is cropped to at most the box, never enlarged.
    return Plan(scaled, (min(box_w, scaled[0]), min(box_h, scaled[1])), rendition.crop)


def master_box(upright: tuple[int, int], spec: Sequence[RenditionSpec]) -> tuple[int, int]:
    """The smallest decode (upright size) every rendition can be derived from.

    Never larger than the original: an upscaled rendition enlarges the master instead of
    asking the decoder for more pixels than the file has.
    """
    plans = [plan(upright, r) for r in spec]
    width = min(upright[0], max(p.scaled[0] for p in plans))
    height = min(upright[1], max(p.scaled[1] for p in plans))
    return width, height
