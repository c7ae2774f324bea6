"""Camera RAW: render from the sensor data with LibRaw (through ``rawpy``), never the preview.

A RAW file carries a small embedded preview besides the sensor image (a DNG's IFD0, a NEF's
thumbnail); a TIFF reader shows the preview, so a photo would silently become 160 px wide.
LibRaw demosaics the sensor data, applies the camera's white balance and colour matrix,
writes sRGB and applies the orientation (its ``flip``), so the pixels come out upright.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import rawpy

from pipeline.domain.errors import UndecodableImage, UnsupportedMediaType
from pipeline.imaging import vips

# LibRaw's flip (0, 3, 5, 6) as the EXIF orientation it stands for.
_FLIP_TO_EXIF = {0: 1, 3: 3, 5: 8, 6: 6}


@contextmanager
def _opened(data: bytes, name: str) -> Iterator[rawpy.RawPy]:
    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            yield raw
    except rawpy.LibRawFileUnsupportedError as exc:
        raise UnsupportedMediaType(
            f"LibRaw {rawpy.libraw_version} cannot read this {name}: {exc}",
            public_message=f"camera RAW ({name}) in a variant this server cannot decode",
        ) from exc
    except (rawpy.LibRawError, rawpy.NotSupportedError) as exc:
        raise UndecodableImage(
            f"{name} decode failed: {type(exc).__name__}: {exc}",
            public_message=f"the {name} sensor data cannot be decoded",
        ) from exc


def raw_size(data: bytes, name: str) -> tuple[int, int, int]:
    """Upright width and height of the rendered sensor image, and its EXIF orientation.

    Reads LibRaw's metadata only (no unpacking). Raises :class:`UnsupportedMediaType` (415,
    naming the format) when LibRaw cannot read the variant, :class:`UndecodableImage`.
    """
    with _opened(data, name) as raw:
        sizes = raw.sizes
        width, height, flip = sizes.width, sizes.height, sizes.flip
    if flip in (5, 6):
        width, height = height, width
    return width, height, _FLIP_TO_EXIF.get(flip, 1)


def decode_raw(data: bytes, box: tuple[int, int], name: str) -> vips.Image:
    """Demosaic ``data`` to 8-bit sRGB, upright, resized to fit ``box``.

    ``half_size`` (one RGB pixel per 2x2 Bayer block, no interpolation) when half the sensor
    still covers the box: 4x less work and no demosaicing artefacts at that scale.
    """
    width, height, _ = raw_size(data, name)
    half = width // 2 >= box[0] and height // 2 >= box[1]
    with _opened(data, name) as raw:
        rgb = raw.postprocess(use_camera_wb=True, output_bps=8, half_size=half)
    rows, columns, bands = rgb.shape
    image = vips.Image.new_from_memory(rgb.tobytes(), columns, rows, bands, "uchar")
    image = image.copy(interpretation="srgb")
    if image.width > box[0] or image.height > box[1]:
        image = image.thumbnail_image(box[0], height=box[1], size="down")
    return image.copy_memory()
