"""Deep Zoom tiles of a large photo: libvips' ``dzsave`` into one uncompressed ZIP.

Only photos whose long side is above ``GALLERY_LIMITS_DEEP_ZOOM_MIN_SIDE`` get tiles (an
ordinary photo's render is unchanged). The tiles come from the same decode as the other
renditions (the master, decoded at full size for such a photo) and are stored as ONE object,
the ``tiles`` rendition (``renditions/{tenant}/{image}/tiles-{spec_hash}.zip``): a panorama's
~2000 tiles are one key to store, re-render, reconcile and delete. The ZIP is written with
no compression (``stored`` entries), so the gateway serves any tile with a ranged read of
the object (:mod:`gateway.tiles`). The layout is Microsoft's Deep Zoom (``dz``): level
``L`` holds the image at ``ceil(size / 2**(max_level - L))``, tile ``{col}_{row}`` is
:data:`TILE_SIZE` pixels plus :data:`OVERLAP` on each inner edge.
"""

from __future__ import annotations

import hashlib
import json
import math

from pipeline.imaging import vips
from pipeline.imaging.spec import PIPELINE_VERSION

NAME = "tiles"
TILE_SIZE = 254  # + 1 px overlap each side = 256: the Deep Zoom convention
OVERLAP = 1
TILE_FORMAT = "jpg"
TILE_CONTENT_TYPE = "image/jpeg"
QUALITY = 80
# What dzsave names the tree inside a ZIP written to a buffer.
ROOT = "untitled_files"

SPEC_HASH = hashlib.sha256(
    json.dumps(
        {"v": PIPELINE_VERSION, "tile_size": TILE_SIZE, "overlap": OVERLAP, "q": QUALITY},
        sort_keys=True,
    ).encode()
).hexdigest()[:12]


def wants_tiles(upright: tuple[int, int], min_side: int) -> bool:
    """Tiles for a photo whose long side is above ``min_side`` pixels (0: never)."""
    return min_side > 0 and max(upright) > min_side


def max_level(width: int, height: int) -> int:
    """The Deep Zoom level of the full-size image (level 0 is 1 x 1 pixel)."""
    return math.ceil(math.log2(max(width, height, 1)))


def tile_path(level: int, col: int, row: int) -> str:
    """The ZIP member holding one tile."""
    return f"{ROOT}/{level}/{col}_{row}.{TILE_FORMAT}"


def render_tiles(image: vips.Image) -> bytes:
    """Every tile of every level of the upright 8-bit sRGB ``image``, as one ZIP."""
    if image.hasalpha():  # JPEG tiles: composite over white, as the ``large`` JPEG does
        image = image.flatten(background=[255, 255, 255])
    data = image.dzsave_buffer(
        container="zip",
        layout="dz",
        tile_size=TILE_SIZE,
        overlap=OVERLAP,
        suffix=f".{TILE_FORMAT}[Q={QUALITY},optimize_coding=true,keep=none]",
        compression=0,
    )
    return bytes(data)
