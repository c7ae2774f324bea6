"""Decode an original once, shrinking on load to the size the renditions need."""

from __future__ import annotations

import pi_heif

from pipeline.domain.errors import UndecodableImage
from pipeline.imaging import vips

JPEG_EOI = b"\xff\xd9"
# Entropy-coded one-bits (0xFF is stuffed as FF 00 inside a scan, ITU-T T.81 F.1.2.3).
_FILLER = b"\xff\x00" * 64
_JPEG_SHRINKS = (8, 4, 2)  # the DCT scalings libjpeg decodes at almost no cost


def decode_master(data: bytes, box: tuple[int, int], *, fail_on: str = "error") -> vips.Image:
    """Decode the first frame of ``data`` to fit inside ``box`` (stored orientation).

    ``thumbnail_buffer`` picks the loader's shrink-on-load (JPEG DCT scaling, WebP and HEIF
    scale hints), so a 12 MP JPEG for a 2048 px master decodes at half size. ``no_rotate``:
    the orient step rotates explicitly. ``fail_on="error"``: truncated or corrupt data raises
    instead of leaving grey rows (libvips' default is to warn and carry on); ``"warning"``
    also raises on what libjpeg only warns about. CMYK goes
    through :func:`_decode_cmyk` instead (see :mod:`.vips` for why).
    """
    if vips.Image.new_from_buffer(data, "").interpretation == "cmyk":  # the header only
        return _decode_cmyk(data, box, fail_on)
    # fail_on goes through option_string to the loader: with libvips 8.18 thumbnail's own
    # fail_on argument still let a half-missing JPEG through as grey rows (see the unit test).
    image = vips.Image.thumbnail_buffer(
        data, box[0], height=box[1], size="down", no_rotate=True, option_string=f"fail_on={fail_on}"
    )
    # Materialise now: the decode cost lands in this step (and its timing), and what follows
    # reads pixels from memory instead of re-running the decoder.
    return image.copy_memory()


def uncovered_transparent(
    image: vips.Image,
    canvas: tuple[int, int],
    frame: tuple[int, int, int, int],
    box: tuple[int, int],
) -> vips.Image:
    """A decoded GIF whose first ``frame`` (left, top, width, height on the ``canvas``)
    leaves part of the canvas uncovered: the whole canvas, fitted to ``box``, with that part
    transparent.

    libvips paints the first frame on a transparent canvas, but drops the alpha band when no
    frame declares a transparent colour: the uncovered canvas then comes out black, where a
    browser shows transparency. And libnsgif takes some common screen sizes (640x480,
    800x600, 1024x768, 1600x1200 ...) for an editor's leftover and decodes only up to the
    first frame's far corner: that image is put back on the canvas the file declares, so it
    is neither cropped nor, later, stretched to the declared size.
    """
    left, top, width, height = frame
    extent = (left + width, top + height)
    if not image.hasalpha():
        image = image.bandjoin(255).copy(interpretation=image.interpretation)
    if _same_shape((image.width, image.height), extent) and not _same_shape(
        (image.width, image.height), canvas
    ):
        scale = image.width / extent[0]
        size = (round(canvas[0] * scale), round(canvas[1] * scale))
        image = image.embed(0, 0, *size, extend="background", background=[0, 0, 0, 0])
    sx, sy = image.width / canvas[0], image.height / canvas[1]
    covered = vips.Image.black(image.width, image.height).draw_rect(
        255,
        round(left * sx),
        round(top * sy),
        max(1, round(width * sx)),
        max(1, round(height * sy)),
        fill=True,
    )
    image = image[:-1].bandjoin((image[-1] & covered).cast("uchar"))
    if image.width > box[0] or image.height > box[1]:
        image = image.thumbnail_image(box[0], height=box[1], size="down")
    return image.copy(interpretation="srgb").copy_memory()


def _same_shape(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return abs(a[0] * b[1] - a[1] * b[0]) <= max(a[0], a[1], b[0], b[1])


def decode_jpeg_without_eoi(data: bytes, box: tuple[int, int]) -> vips.Image:
    """Decode a JPEG that ends without its End Of Image marker, if its every scan is complete.

    Some writers (Samsung panoramas, old iPhone progressive files, optimisers) stop after the
    last scan's data without the EOI marker (libjpeg-turbo#163): libjpeg reports "premature
    end of JPEG file", which ``fail_on="error"`` makes a failure although every row decodes.
    A file really cut short in a scan reports the same. To tell them apart the file is
    decoded twice, once with the marker appended and once with filler bits before it: when
    the scans are complete the decoder never reads past their end and both decodes are the
    same image; when a scan was cut, the decoder reads the filler as image data and they
    differ, and the file is :class:`UndecodableImage`, as before. (libjpeg does not always
    warn about a scan that meets a marker: within the last rows it fills silently.)
    Costs a second decode, for these files only.
    """
    image = decode_master(data + JPEG_EOI, box, fail_on="warning")
    filled = decode_master(data + _FILLER + JPEG_EOI, box, fail_on="none")
    if (image.width, image.height) != (filled.width, filled.height) or (
        (image - filled).abs().max() > 0
    ):
        raise UndecodableImage(
            "JPEG data ends inside a scan (no EOI marker)",
            public_message="the image data is corrupt or truncated",
        )
    return image


def _decode_cmyk(data: bytes, box: tuple[int, int], fail_on: str) -> vips.Image:
    """A CMYK JPEG or TIFF converted to sRGB with its own profile, else libvips' CMYK one.

    Never through ``thumbnail`` (it imports untagged CMYK with libvips' fallback profile,
    which it attaches freed: see :mod:`.vips`), never with an ``input_profile`` name: the
    profile is attached from bytes this process owns and imported as embedded. Relative
    colorimetric, libvips' default intent, as print workflows preview CMYK (pure cyan comes
    out about (0, 155, 229)). Resized to ``box`` once in sRGB.
    """
    head = vips.Image.new_from_buffer(data, "")
    options = f"fail_on={fail_on}"
    if head.get("vips-loader").startswith("jpegload"):
        fits = [
            s for s in _JPEG_SHRINKS if head.width // s >= box[0] and head.height // s >= box[1]
        ]
        options += f",shrink={fits[0] if fits else 1}"
    image = vips.Image.new_from_buffer(data, options, access="sequential")
    if not image.get_typeof("icc-profile-data"):
        image = image.copy()
        image.set_type(vips.GValueBlob, "icc-profile-data", vips.CMYK_PROFILE)
    image = image.icc_import(embedded=True, intent="relative").colourspace("srgb")
    image.remove("icc-profile-data")  # the CMYK profile no longer describes these pixels
    if (image.width, image.height) != box:
        image = image.thumbnail_image(box[0], height=box[1], size="down")
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
