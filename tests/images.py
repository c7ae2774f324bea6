"""Deterministic test images, made with pyvips (nothing is downloaded), and ways to compare them.

Every generator draws the same *upright* scene: a smooth photo-like gradient with seeded
noise (texture for the encoders), a dark diagonal band, and a bright white block in the
top-left corner. The block makes orientation checkable: whatever is stored, a correct render
has its brightest corner top-left (:func:`bright_corner`). Sizes are always the upright size;
with an EXIF orientation of 5..8 the stored pixels are ``height`` x ``width``.

HEIC: pi-heif (the runtime dependency) is decode-only. :func:`heic_bytes` encodes with
``pillow-heif`` (which bundles the x265 encoder) when it is installed and returns ``None``
otherwise; tests then skip (``pytest.importorskip`` style via :data:`HEIC_ENCODER`).
"""

from __future__ import annotations

import importlib.util
import io
import math
import struct
import zlib
from dataclasses import dataclass

import pyvips

from pipeline.domain.errors import InputError
from pipeline.imaging.scan import scan_header
from pipeline.runtime.settings import LimitsSettings

HEIC_ENCODER = importlib.util.find_spec("pillow_heif") is not None

_ORIENT_INVERSE = {  # orientation -> how to store an upright scene so a viewer undoes it
    1: lambda im: im,
    2: lambda im: im.fliphor(),
    3: lambda im: im.rot180(),
    4: lambda im: im.flipver(),
    5: lambda im: im.rot90().fliphor(),  # transpose
    6: lambda im: im.rot270(),  # viewer rotates 90 clockwise
    7: lambda im: im.rot270().fliphor(),  # transverse
    8: lambda im: im.rot90(),  # viewer rotates 90 counter-clockwise
}


def scene(width: int, height: int, *, seed: int = 0, alpha: bool = False) -> pyvips.Image:
    """The upright test scene as an 8-bit sRGB image (RGBA with a soft alpha ramp if asked)."""
    xy = pyvips.Image.xyz(width, height)
    x, y = xy[0] / max(width - 1, 1), xy[1] / max(height - 1, 1)
    red = x * 120 + 60
    green = y * 100 + 70
    blue = (x + y) * 50 + 60
    noise = pyvips.Image.gaussnoise(width, height, sigma=10, mean=0, seed=seed)
    image = red.bandjoin([green, blue]) + noise
    band = ((x - y).abs() < 0.05).ifthenelse([30, 30, 40], image)  # dark diagonal band
    block = ((x < 0.22) & (y < 0.22)).ifthenelse([250, 250, 250], band)
    image = block.cast("uchar").copy(interpretation="srgb")
    if alpha:
        image = image.bandjoin((x * 155 + 100).cast("uchar"))
    return image


def jpeg_bytes(
    width: int,
    height: int,
    *,
    orientation: int | None = None,
    quality: int = 85,
    seed: int = 0,
    camera: bool = False,
    gps: bool = False,
) -> bytes:
    """A JPEG whose upright view is ``width`` x ``height``; EXIF Orientation when given.

    ``camera`` adds EXIF make, model, lens, capture time and exposure fields (see
    :data:`CAMERA`); ``gps`` adds a GPS position (:data:`GPS`).
    """
    image = scene(width, height, seed=seed)
    if orientation is not None:
        image = _ORIENT_INVERSE[orientation](image).copy()
        image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    if camera or gps or orientation is not None:
        image = image.copy()
        blob = exif_blob(orientation or 1, camera=camera, gps=gps)
        image.set_type(pyvips.GValue.blob_type, "exif-data", blob)
    return bytes(image.jpegsave_buffer(Q=quality))


def png_bytes(width: int, height: int, *, seed: int = 0, alpha: bool = False) -> bytes:
    """A PNG of the scene (RGBA with ``alpha``)."""
    return bytes(scene(width, height, seed=seed, alpha=alpha).pngsave_buffer(compression=1))


def webp_bytes(width: int, height: int, *, seed: int = 0, frames: int = 1) -> bytes:
    """A WebP of the scene; animated when ``frames`` > 1."""
    if frames > 1:
        return bytes(_animation(width, height, frames, seed).webpsave_buffer(Q=70))
    return bytes(scene(width, height, seed=seed).webpsave_buffer(Q=80))


def gif_bytes(width: int, height: int, frames: int = 1, *, seed: int = 0) -> bytes:
    """A GIF with ``frames`` distinct frames (identical frames would be merged by the saver)."""
    return bytes(_animation(width, height, frames, seed).gifsave_buffer())


@dataclass(frozen=True)
class ApngFrame:
    """One APNG frame: a solid ``rgba`` rectangle at (x, y), shown ``delay_ms``; ``dispose``
    0 none, 1 to transparent, 2 to the previous canvas; ``blend`` 0 source, 1 over."""

    x: int
    y: int
    width: int
    height: int
    rgba: tuple[int, int, int, int]
    delay_ms: int
    dispose: int = 0
    blend: int = 0


def apng_of(width: int, height: int, frames: list[ApngFrame], plays: int = 0) -> bytes:
    """An APNG of sub-rectangle frames with disposal and blending, as encoders that store only
    what changed write them (the first frame is the default image and covers the canvas)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    def idat_of(frame: ApngFrame) -> tuple[bytes, bytes]:
        solid = pyvips.Image.black(frame.width, frame.height, bands=4) + list(frame.rgba)
        png = bytes(solid.cast("uchar").copy(interpretation="srgb").pngsave_buffer())
        pieces, pos = {}, 8
        while pos < len(png):
            (length,) = struct.unpack_from(">I", png, pos)
            kind = png[pos + 4 : pos + 8]
            pieces[kind] = pieces.get(kind, b"") + png[pos + 8 : pos + 8 + length]
            pos += 12 + length
        return pieces[b"IHDR"], pieces[b"IDAT"]

    ihdr, _ = idat_of(ApngFrame(0, 0, width, height, (0, 0, 0, 0), 0))
    out = [
        b"\x89PNG\r\n\x1a\n",
        chunk(b"IHDR", ihdr),
        chunk(b"acTL", struct.pack(">II", len(frames), plays)),
    ]
    seq = 0
    for index, frame in enumerate(frames):
        control = struct.pack(
            ">IIIIIHHBB", seq, frame.width, frame.height, frame.x, frame.y, frame.delay_ms, 1000,
            frame.dispose, frame.blend,
        )  # fmt: skip
        out.append(chunk(b"fcTL", control))
        seq += 1
        _, idat = idat_of(frame)
        if index == 0:
            out.append(chunk(b"IDAT", idat))
        else:
            out.append(chunk(b"fdAT", struct.pack(">I", seq) + idat))
            seq += 1
    out.append(chunk(b"IEND", b""))
    return b"".join(out)


def apng_bytes(width: int, height: int, frames: int, *, default_is_a_frame: bool = True) -> bytes:
    """An animated PNG (APNG) of ``frames`` frames of the scene: acTL says ``frames``.

    With ``default_is_a_frame`` an fcTL precedes the IDAT, so the default image is the first
    frame; otherwise the default image is shown only by viewers without APNG and the file
    holds ``frames + 1`` images (W3C PNG 3rd edition, section 4.9).
    """
    still = png_bytes(width, height)
    chunks, pos = [], 8
    while pos < len(still):
        (length,) = struct.unpack_from(">I", still, pos)
        chunks.append((still[pos + 4 : pos + 8], still[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    ihdr = next(data for kind, data in chunks if kind == b"IHDR")
    idat = b"".join(data for kind, data in chunks if kind == b"IDAT")

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    def fctl(seq: int) -> bytes:  # the whole canvas, 1/10 s, no disposal, no blending
        return chunk(b"fcTL", struct.pack(">IIIIIHHBB", seq, width, height, 0, 0, 1, 10, 0, 0))

    seq = 0
    out = [
        b"\x89PNG\r\n\x1a\n",
        chunk(b"IHDR", ihdr),
        chunk(b"acTL", struct.pack(">II", frames, 0)),
    ]
    if default_is_a_frame:
        out.append(fctl(seq))
        seq += 1
    out.append(chunk(b"IDAT", idat))
    for _ in range(frames - 1 if default_is_a_frame else frames):
        out.append(fctl(seq))
        out.append(chunk(b"fdAT", struct.pack(">I", seq + 1) + idat))
        seq += 2
    out.append(chunk(b"IEND", b""))
    return b"".join(out)


def partial_gif_bytes(
    canvas: tuple[int, int], frames: list[tuple[int, int, int, int, tuple[int, int, int]]]
) -> bytes:
    """An animated GIF on a ``canvas`` whose frames are flat rectangles (left, top, width,
    height, colour), none with a transparent colour: the first may leave canvas uncovered.

    Written by hand (pyvips' saver always writes whole-canvas first frames). The LZW data
    restarts with a clear code every two pixels, so every code stays 3 bits wide.
    """
    width, height = canvas
    colours = [(0, 0, 0)] + [colour for *_, colour in frames]
    colours += [(0, 0, 0)] * (8 - len(colours))
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", width, height, 0x92, 0, 0))
    out += b"".join(bytes(rgb) for rgb in colours[:8])
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    for index, (left, top, w, h, _) in enumerate(frames, start=1):
        out += b"\x21\xf9\x04\x00" + struct.pack("<H", 10) + b"\x00\x00"  # 1/10 s
        out += b"\x2c" + struct.pack("<HHHHB", left, top, w, h, 0)
        out += _lzw_literal([index] * (w * h))
    return bytes(out + b"\x3b")


def _lzw_literal(indices: list[int], min_size: int = 3) -> bytes:
    clear, end = 1 << min_size, (1 << min_size) + 1
    codes: list[int] = []
    for i in range(0, len(indices), 2):
        codes += [clear, *indices[i : i + 2]]
    codes += [clear, end]
    bits = nbits = 0
    packed = bytearray()
    for code in codes:
        bits |= code << nbits
        nbits += min_size + 1
        while nbits >= 8:
            packed.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8
    if nbits:
        packed.append(bits & 0xFF)
    blocks = bytearray([min_size])
    for i in range(0, len(packed), 255):
        blocks += bytes([len(packed[i : i + 255])]) + packed[i : i + 255]
    return bytes(blocks + b"\x00")


def tiff_bytes(width: int, height: int, *, seed: int = 0) -> bytes:
    """An uncompressed TIFF of the scene."""
    return bytes(scene(width, height, seed=seed).tiffsave_buffer())


def avif_bytes(width: int, height: int, *, seed: int = 0) -> bytes:
    """An AVIF (AV1 in HEIF) of the scene."""
    image = scene(width, height, seed=seed)
    return bytes(image.heifsave_buffer(Q=60, compression="av1", effort=0))


def cmyk_jpeg_bytes(width: int, height: int, *, profile: bool = True) -> bytes:
    """A CMYK JPEG (print workflows), with the CMYK ICC profile embedded or not."""
    image = scene(width, height).icc_transform("cmyk")
    if not profile:
        image = image.copy()
        image.remove("icc-profile-data")
    return bytes(image.jpegsave_buffer(Q=90, keep="icc" if profile else "none"))


def p3_jpeg_bytes(width: int, height: int, *, colour: tuple[int, int, int] | None = None) -> bytes:
    """A JPEG in Display P3 with the profile embedded (what phones write).

    The scene, or a flat sRGB ``colour`` (saturated colours show the P3/sRGB difference best).
    """
    image = scene(width, height)
    if colour is not None:
        image = (image.new_from_image(list(colour))).copy(interpretation="srgb")
    image = image.icc_transform("p3")
    return bytes(image.jpegsave_buffer(Q=90))


def heic_bytes(width: int, height: int, *, orientation: int | None = None) -> bytes | None:
    """A HEIC of the scene via pillow-heif's x265 encoder, or ``None`` if none is installed.

    The orientation goes into EXIF; pillow-heif turns it into HEIF ``irot``/``imir`` boxes,
    as iPhones write them.
    """
    if not HEIC_ENCODER:
        return None
    import pillow_heif

    image = scene(width, height)
    if orientation is not None:
        image = _ORIENT_INVERSE[orientation](image)
    heif = pillow_heif.from_bytes("RGB", (image.width, image.height), image.write_to_memory())
    out = io.BytesIO()
    exif = exif_blob(orientation, camera=False, gps=False) if orientation else None
    heif.save(out, quality=80, exif=exif)
    return out.getvalue()


def _animation(width: int, height: int, frames: int, seed: int) -> pyvips.Image:
    pages = [
        scene(width, height, seed=seed + i).rot180()
        if i % 2
        else scene(width, height, seed=seed + i)
        for i in range(frames)
    ]
    strip = pyvips.Image.arrayjoin(pages, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", height)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [100] * frames)
    return strip


# --- hostile and broken input ------------------------------------------------------------


def png_bomb_bytes(side: int = 50000) -> bytes:
    """A ~1 KB PNG whose IHDR declares ``side`` x ``side`` (the data covers a few rows only)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * (side + 1) * 16, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_bomb_header_bytes(side: int = 60000) -> bytes:
    """A valid tiny JPEG whose SOF0 marker is patched to claim ``side`` x ``side``."""
    data = bytearray(jpeg_bytes(16, 16, quality=50))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", side, side)
    return bytes(data)


def truncated_jpeg_bytes(width: int = 800, height: int = 600, *, keep: float = 0.5) -> bytes:
    """A JPEG cut after ``keep`` of its bytes: a valid header, half the entropy-coded data."""
    data = jpeg_bytes(width, height)
    return data[: int(len(data) * keep)]


def garbage_after_magic(mime: str = "image/jpeg") -> bytes:
    """Correct magic bytes for ``mime`` followed by noise: sniffs as an image, is not one."""
    magic = {
        "image/jpeg": b"\xff\xd8\xff\xe0",
        "image/png": b"\x89PNG\r\n\x1a\n",
        "image/gif": b"GIF89a",
        "image/webp": b"RIFF\x00\x01\x00\x00WEBP",
    }[mime]
    noise = bytes((i * 7919 + 13) % 251 for i in range(2048))
    return magic + noise


# --- EXIF ----------------------------------------------------------------------------------

CAMERA = {
    "camera_make": "GalleryCam",
    "camera_model": "GC-1 Mk II",
    "lens": "GC 35mm F2.8",
    "capture_time": "2024-05-01T12:34:56+02:00",
    "iso": 200,
    "exposure": 0.004,
    "f_number": 2.8,
    "focal_length": 35.0,
}
GPS = {"lat": 52.3702, "lon": -4.8952}


def exif_blob(orientation: int, *, camera: bool, gps: bool) -> bytes:
    """A little-endian EXIF block ("Exif\\0\\0" + TIFF) with the fields of :data:`CAMERA`."""
    ifd0: list[tuple[int, int, bytes]] = [(0x0112, 3, struct.pack("<H", orientation))]
    exif: list[tuple[int, int, bytes]] = []
    gps_ifd: list[tuple[int, int, bytes]] = []
    if camera:
        ifd0 += [(0x010F, 2, b"GalleryCam\x00"), (0x0110, 2, b"GC-1 Mk II\x00")]
        exif = [
            (0x829A, 5, struct.pack("<II", 1, 250)),
            (0x829D, 5, struct.pack("<II", 28, 10)),
            (0x8827, 3, struct.pack("<H", 200)),
            (0x9003, 2, b"2024:05:01 12:34:56\x00"),
            (0x9011, 2, b"+02:00\x00"),
            (0x920A, 5, struct.pack("<II", 35, 1)),
            (0xA434, 2, b"GC 35mm F2.8\x00"),
        ]
    if gps:
        gps_ifd = [
            (1, 2, b"N\x00"),
            (2, 5, _dms(GPS["lat"])),
            (3, 2, b"W\x00"),
            (4, 5, _dms(-GPS["lon"])),
        ]
    return b"Exif\x00\x00" + _tiff(ifd0, exif, gps_ifd)


def apple_live_jpeg(width: int, height: int, content_identifier: str) -> bytes:
    """The still of an Apple live photo: a JPEG whose EXIF maker note (Apple's: "Apple iOS",
    version 1, big-endian IFD with offsets from the note's start) carries the content
    identifier (tag 0x11) that its video carries too. The APP1 segment is written here, not
    by libvips, so the maker note stays byte for byte as Apple lays it out."""
    text = content_identifier.encode() + b"\x00"
    heap_at = 14 + 2 + 12 + 4
    note = b"Apple iOS\x00" + b"\x00\x01" + b"MM" + struct.pack(">H", 1)
    note += struct.pack(">HHII", 0x0011, 2, len(text), heap_at) + struct.pack(">I", 0) + text
    exif = [(0x927C, 7, note), (0x9003, 2, b"2024:05:01 12:34:56\x00")]
    tiff = _tiff([(0x010F, 2, b"Apple\x00"), (0x0110, 2, b"iPhone 15\x00")], exif, [])
    payload = b"Exif\x00\x00" + tiff
    jpeg = bytes(scene(width, height).jpegsave_buffer(Q=85))
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def _dms(value: float) -> bytes:
    degrees = math.floor(value)
    minutes = math.floor((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60 * 1000)
    return struct.pack("<6I", degrees, 1, minutes, 1, seconds, 1000)


def _tiff(ifd0: list[tuple[int, int, bytes]], *subs: list[tuple[int, int, bytes]]) -> bytes:
    # Lay out IFD0, then the sub-IFDs (Exif 0x8769, GPS 0x8825), then the out-of-line values.
    pointers = [tag for tag, sub in zip((0x8769, 0x8825), subs, strict=True) if sub]
    ifds = [sorted([*ifd0, *((t, 4, b"\0\0\0\0") for t in pointers)])]
    ifds += [sorted(sub) for sub in subs if sub]
    offsets, pos = [], 8
    for ifd in ifds:
        offsets.append(pos)
        pos += 2 + 12 * len(ifd) + 4
    heap = bytearray()
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for n, ifd in enumerate(ifds):
        out += struct.pack("<H", len(ifd))
        for tag, kind, given in ifd:
            count = len(given) // {2: 1, 3: 2, 4: 4, 5: 8, 7: 1}[kind]
            pointer = tag in pointers
            value = struct.pack("<I", offsets[1 + pointers.index(tag)]) if pointer else given
            if len(value) > 4:
                field = struct.pack("<I", pos + len(heap))
                heap += value + b"\x00" * (len(value) & 1)
            else:
                field = value.ljust(4, b"\x00")
            out += struct.pack("<HHI", tag, kind, count) + field
        out += struct.pack("<I", 0)
        assert len(out) == offsets[n] + 2 + 12 * len(ifd) + 4
    return bytes(out + heap)


# --- comparing images by what they look like --------------------------------------------

_CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")


def _grey(data: bytes, size: int) -> list[float]:
    image = pyvips.Image.thumbnail_buffer(data, size, height=size, size="force")
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    grey = image.colourspace("b-w")[0].cast("uchar")
    return [float(v) for v in bytes(grey.write_to_memory())]


def similarity(a: bytes, b: bytes) -> float:
    """Correlation (-1..1) of two images' 48 x 48 greyscale versions, aspect ignored.

    1.0 is "looks the same"; an unrelated or wrongly rotated image scores far lower.
    """
    xs, ys = _grey(a, 48), _grey(b, 48)
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    vx = sum((x - mx) ** 2 for x in xs)
    vy = sum((y - my) ** 2 for y in ys)
    return cov / math.sqrt(vx * vy) if vx and vy else float(vx == vy)


def bright_corner(image_bytes: bytes) -> str:
    """Which corner ("top-left", "top-right", "bottom-left", "bottom-right") is brightest."""
    size = 40
    pixels = _grey(image_bytes, size)
    q = size // 5  # a corner square of 1/5 of each side: inside the scene's white block

    def mean(x0: int, y0: int) -> float:
        return sum(pixels[y * size + x] for y in range(y0, y0 + q) for x in range(x0, x0 + q))

    means = [mean(0, 0), mean(size - q, 0), mean(0, size - q), mean(size - q, size - q)]
    return _CORNERS[means.index(max(means))]


def size_of(image_bytes: bytes) -> tuple[int, int]:
    """Width and height from the header."""
    image = pyvips.Image.new_from_buffer(image_bytes, "")
    return image.width, image.height


def has_exif(image_bytes: bytes) -> bool:
    """Whether the encoded image carries EXIF (or XMP / ICC) metadata."""
    image = pyvips.Image.new_from_buffer(image_bytes, "")
    return any(image.get_typeof(f) for f in ("exif-data", "xmp-data", "icc-profile-data"))


def jpeg_with_big_header(width: int, height: int, *, padding: int) -> bytes:
    """A JPEG whose size header (SOF) comes after ``padding`` bytes of comment segments,
    as after a large embedded preview or maker note."""
    data = jpeg_bytes(width, height)
    segments = []
    remaining = padding
    while remaining > 0:
        size = min(remaining, 60_000)
        segments.append(b"\xff\xfe" + (size + 2).to_bytes(2, "big") + b"c" * size)
        remaining -= size
    return data[:2] + b"".join(segments) + data[2:]


def sniffed(data: bytes) -> str | None:
    """The MIME type the gateway's scanner reads from ``data`` (a whole file), or ``None``."""
    try:
        return scan_header(data, LimitsSettings()).mime
    except InputError:
        return None
