"""Cropped renditions of extreme shapes: fitted and padded instead of cut to a sliver.

A cropped rendition (the grid's square ``thumb``) of a 20000 x 3 scan or a 10:1 panorama is
a meaningless sliver of it. Beyond ``GALLERY_LIMITS_LETTERBOX_RATIO`` (long side over short
side) the whole picture is fitted into the box instead and the rest of the box is padded:
transparent for formats with alpha, white for JPEG. The box keeps its size, so grids that
expect squares still get squares.
"""

from __future__ import annotations

from pipeline.imaging import vips
from pipeline.imaging.geometry import Plan
from pipeline.imaging.spec import RenditionSpec


def is_extreme(upright: tuple[int, int], ratio: float) -> bool:
    """The long side is more than ``ratio`` times the short one."""
    width, height = upright
    return max(width, height) > ratio * max(1, min(width, height))


def letterbox_plan(upright: tuple[int, int], rendition: RenditionSpec) -> Plan:
    """Fit ``upright`` inside the rendition's box (never enlarged): the picture's part."""
    width, height = upright
    scale = min(rendition.width / width, rendition.height / height, 1.0)
    scaled = (max(1, round(width * scale)), max(1, round(height * scale)))
    return Plan(scaled, scaled, "none")


def pad(image: vips.Image, rendition: RenditionSpec) -> vips.Image:
    """``image`` centred on a canvas of the rendition's box (at most its own size when the
    box is larger than the image in both directions, as an un-upscaled crop would be)."""
    width = min(rendition.width, max(image.width, min(rendition.width, image.height)))
    height = min(rendition.height, max(image.height, min(rendition.height, image.width)))
    if rendition.format == "jpeg":
        image = image.flatten(background=[255, 255, 255]) if image.hasalpha() else image
        background = [255] * image.bands
    else:
        image = image if image.hasalpha() else image.bandjoin(255)
        background = [0] * image.bands
    left, top = (width - image.width) // 2, (height - image.height) // 2
    return image.embed(left, top, width, height, extend="background", background=background)
