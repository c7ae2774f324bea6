"""Decode an original once, shrinking on load to the size the renditions need."""

from __future__ import annotations

import pi_heif

from pipeline.domain.errors import UndecodableImage
from pipeline.imaging import vips


def decode_master(data: bytes, box: tuple[int, int]) -> vips.Image:
    """Decode the first frame of ``data`` to fit inside ``box`` (stored orientation).

    ``thumbnail_buffer`` picks the loader's shrink-on-load (JPEG DCT scaling, WebP and HEIF
    scale hints), so a 12 MP JPEG for a 2048 px master decodes at half size. It also imports
    an embedded ICC profile to sRGB while it resamples. ``no_rotate``: the orient step rotates
    explicitly. ``fail_on="error"``: truncated or corrupt data raises instead of leaving grey
    rows (libvips' default is to warn and carry on).
    """
    # fail_on goes through option_string to the loader: with libvips 8.18 thumbnail's own
    # fail_on argument still let a half-missing JPEG through as grey rows (see the unit test).
    image = vips.Image.thumbnail_buffer(
        data, box[0], height=box[1], size="down", no_rotate=True, option_string="fail_on=error"
    )
    # Materialise now: the decode cost lands in this step (and its timing), and what follows
    # reads pixels from memory instead of re-running the decoder.
    return image.copy_memory()


def decode_heic(data: bytes, box: tuple[int, int]) -> vips.Image:
    """Decode HEIC through pi-heif (the libvips wheel has no HEVC decoder).

    libheif applies the ``irot``/``imir`` transforms, so the pixels come out upright and any
    EXIF orientation must be ignored (HEIF gives the container boxes precedence). libheif
    cannot shrink on load; the full decode is resized to ``box`` (upright) here.
    """
    try:
        heif = pi_heif.open_heif(data, convert_hdr_to_8bit=True)
        pixels, stride = heif.data, heif.stride
        width, height = heif.size
        bands = {"RGB": 3, "RGBA": 4}.get(heif.mode)
        icc = heif.info.get("icc_profile")
    except (ValueError, RuntimeError, OSError, SyntaxError) as exc:
        raise UndecodableImage(
            f"HEIC decode failed: {exc}", public_message="the HEIC data cannot be decoded"
        ) from exc
    if bands is None or stride % bands:
        raise UndecodableImage(f"HEIC decoded to unsupported mode {heif.mode!r}")
    # Rows may be padded: view the buffer as stride/bands pixels wide, then crop the padding.
    image = vips.Image.new_from_memory(bytes(pixels), stride // bands, height, bands, "uchar")
    image = image.crop(0, 0, width, height).copy(interpretation="srgb")
    if icc:
        image.set_type(vips.GValueBlob, "icc-profile-data", bytes(icc))
    if (width, height) != box:
        image = image.thumbnail_image(box[0], height=box[1], size="down")
    return image.copy_memory()
