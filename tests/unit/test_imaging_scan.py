"""The ingest gate's header scanner: one pass, any chunking, bounded memory, the same limits."""

from __future__ import annotations

import time

import pytest
import pyvips

from pipeline.domain.errors import (
    ImageRejected,
    ImageTooLarge,
    TooManyFrames,
    TooManyScans,
    UndecodableImage,
    UnsupportedMediaType,
    UploadTooLarge,
)
from pipeline.imaging.scan import BUFFER_BOUND, HeaderScanner
from pipeline.imaging.scan.sniff import FAMILIES, VIDEO_FORMATS, accepted
from pipeline.runtime.settings import LimitsSettings
from tests import images
from tests.unit.raw_images import dng_bytes
from tests.unit.scanning import scan

pytestmark = pytest.mark.unit
LIMITS = LimitsSettings()


def _samples() -> dict[str, bytes]:
    samples = {
        "image/jpeg": images.jpeg_bytes(64, 48),
        "image/png": images.png_bytes(64, 48),
        "image/gif": images.gif_bytes(64, 48, 2),
        "image/webp": images.webp_bytes(64, 48),
        "image/avif": images.avif_bytes(64, 48),
        "image/tiff": images.tiff_bytes(64, 48),
    }
    if (heic := images.heic_bytes(64, 48)) is not None:
        samples["image/heic"] = heic
    return samples


SAMPLES = _samples()


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
@pytest.mark.parametrize("mime", sorted(SAMPLES))
def test_each_type_reads_the_same_header_as_libvips_in_any_chunking(mime: str, chunk: int) -> None:
    data = SAMPLES[mime]
    header = scan(data, LIMITS, chunk=chunk)
    vips = pyvips.Image.new_from_buffer(data, "")
    frames = vips.get("n-pages") if vips.get_typeof("n-pages") else 1
    assert (header.mime, header.width, header.height) == (mime, vips.width, vips.height)
    assert header.frames == frames


def test_header_is_known_before_the_body_ends() -> None:
    # The gateway can refuse a bomb on the first chunk, before storing the rest.
    scanner = HeaderScanner(LIMITS)
    data = images.jpeg_bytes(900, 700)
    scanner.feed(data[:4096])
    assert scanner.header is not None
    assert (scanner.header.width, scanner.header.height) == (900, 700)


def test_metadata_of_many_megabytes_is_skipped_within_the_buffer_bound() -> None:
    data = images.jpeg_with_big_header(400, 300, padding=8 * 1024 * 1024)
    scanner = HeaderScanner(LIMITS)
    peak = 0
    for i in range(0, len(data), 65536):
        scanner.feed(data[i : i + 65536])
        peak = max(peak, scanner.buffered_bytes)
    header = scanner.finish()
    assert (header.width, header.height) == (400, 300)
    assert peak <= BUFFER_BOUND < 256 * 1024


@pytest.mark.parametrize("chunk", [1000, 1 << 20])
def test_tiff_with_its_ifd_after_the_pixels_passes(chunk: int) -> None:
    data = images.tiff_bytes(900, 700)  # libtiff writes IFD0 after the pixel data
    assert int.from_bytes(data[4:8], "little") > len(data) // 2
    header = scan(data, LIMITS, chunk=chunk)
    assert (header.mime, header.width, header.height) == ("image/tiff", 900, 700)


def test_big_jpeg_scans_fast() -> None:
    data = images.jpeg_bytes(4000, 3000)
    started = time.process_time()
    header = scan(data, LIMITS)
    # Measured ~3 ms per MB; the bound is for a busy machine, not a benchmark.
    assert time.process_time() - started < 2.0
    assert header.scans == 1


@pytest.mark.parametrize("mime", ["image/jpeg", "image/webp", "image/avif", "image/heic"])
def test_the_header_comes_from_the_first_part_of_a_bigger_file(mime: str) -> None:
    # A third of the file (at least 4 KiB) is enough: the size is known before the body ends.
    data = {
        "image/jpeg": lambda: images.jpeg_bytes(900, 700),
        "image/webp": lambda: images.webp_bytes(900, 700),
        "image/avif": lambda: images.avif_bytes(900, 700),
        "image/heic": lambda: images.heic_bytes(900, 700),
    }[mime]()
    if data is None:
        pytest.skip("no HEIC encoder (pillow-heif) installed")
    scanner = HeaderScanner(LIMITS)
    scanner.feed(data[: max(4096, len(data) // 3)])
    assert scanner.header is not None
    assert (scanner.header.mime, scanner.header.width, scanner.header.height) == (mime, 900, 700)


@pytest.mark.parametrize(
    "data",
    [
        b"hello world, this is text",
        b"%PDF-1.7\n" + b"\x00" * 60,
        b'<svg xmlns="http://www.w3.org/2000/svg"/>' + b" " * 30,
        b"BM" + b"\x00" * 62,  # BMP: not supported
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 40,  # an MP4 video
        b"RIFF\x00\x00\x00\x00WAVEfmt " + b"\x00" * 50,
    ],
)
def test_other_files_are_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        scan(data, LIMITS)
    assert info.value.http_status == 415


def test_the_415_answer_names_every_kind_the_gate_accepts_videos_included() -> None:
    # What the gateway's gate says to a text file: the list a user reads to know what to send.
    scanner = HeaderScanner(LIMITS, videos=True)
    with pytest.raises(UnsupportedMediaType) as info:
        scanner.feed(b"hello world, this is text" * 4)
    message = info.value.public_message
    for label in ("JPEG", "PNG", "GIF", "WebP", "AVIF", "HEIC", "TIFF", "camera RAW"):
        assert label in message
    for label in ("MP4", "QuickTime", "3GP", "WebM", "Matroska"):
        assert label in message, "the video formats the gate takes are named too"
    assert message.startswith("not a supported image or video type (images: JPEG")


def test_the_415_list_is_the_sniffers_own_registry() -> None:
    # A format added to the sniffer is named in the 415 answer without another edit.
    named = accepted(videos=True)
    assert [f.label for f in FAMILIES if f.label not in named] == []
    assert {f.label for f in FAMILIES if f.video} == set(VIDEO_FORMATS)


def test_zero_size_png_header_is_undecodable() -> None:
    data = bytearray(images.png_bytes(8, 8))
    data[16:24] = b"\x00" * 8  # IHDR width and height = 0
    with pytest.raises(UndecodableImage):
        scan(bytes(data), LIMITS)


def test_png_bomb_is_refused_on_the_first_chunk() -> None:
    scanner = HeaderScanner(LIMITS)
    with pytest.raises(ImageTooLarge, match="50000x50000") as info:
        scanner.feed(images.png_bomb_bytes(50000)[:100])
    assert info.value.http_status == 422


def test_jpeg_bomb_header_is_refused() -> None:
    with pytest.raises(ImageTooLarge) as info:
        scan(images.jpeg_bomb_header_bytes(60000), LIMITS)
    assert "60000x60000" in info.value.public_message


def test_side_and_pixel_limits() -> None:
    assert scan(images.png_bytes(1000, 10), LimitsSettings(max_side=1000)).width == 1000
    with pytest.raises(ImageTooLarge):
        scan(images.png_bytes(1001, 10), LimitsSettings(max_side=1000))
    scan(images.png_bytes(100, 100), LimitsSettings(max_pixels=100 * 100))
    with pytest.raises(ImageTooLarge):
        scan(images.png_bytes(101, 100), LimitsSettings(max_pixels=100 * 100))


@pytest.mark.parametrize("kind", ["gif", "webp", "tiff"])
def test_frame_limit(kind: str) -> None:
    data = {
        "gif": lambda: images.gif_bytes(32, 24, 4),
        "webp": lambda: images.webp_bytes(32, 24, frames=4),
        "tiff": lambda: _multipage_tiff(4),
    }[kind]()
    assert scan(data, LimitsSettings(max_frames=4)).frames == 4
    with pytest.raises(TooManyFrames, match="4 frames"):
        scan(data, LimitsSettings(max_frames=3))


@pytest.mark.parametrize("default_is_a_frame", [True, False])
def test_apng_frames_count_the_default_image(default_is_a_frame: bool) -> None:
    # acTL says 3: the default image is one of them, or a fourth image outside the animation.
    data = images.apng_bytes(32, 24, 3, default_is_a_frame=default_is_a_frame)
    frames = 3 if default_is_a_frame else 4
    assert pyvips.Image.new_from_buffer(data, "").width == 32  # a valid PNG to libvips
    assert scan(data, LimitsSettings(max_frames=frames)).frames == frames
    with pytest.raises(TooManyFrames, match=f"{frames} frames"):
        scan(data, LimitsSettings(max_frames=frames - 1))


def test_a_still_png_is_one_frame() -> None:
    assert scan(images.png_bytes(32, 24), LimitsSettings(max_frames=1)).frames == 1


def _multipage_tiff(pages: int) -> bytes:
    strip = pyvips.Image.arrayjoin([images.scene(32, 24, seed=i) for i in range(pages)], across=1)
    strip = strip.copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", 24)
    return bytes(strip.tiffsave_buffer())


def test_jpeg_scan_limit_setting_is_enforced_with_the_count() -> None:
    data = bytes(images.scene(320, 240).jpegsave_buffer(interlace=True))
    scans = scan(data, LIMITS).scans
    assert 2 < scans < 20  # libjpeg's progressive script
    assert scan(data, LimitsSettings(max_jpeg_scans=scans)).scans == scans
    with pytest.raises(TooManyScans, match=f"{scans} scans") as info:
        scan(data, LimitsSettings(max_jpeg_scans=scans - 1))
    assert info.value.http_status == 422


def test_byte_limit() -> None:
    data = images.jpeg_bytes(200, 150)
    scan(data, LimitsSettings(max_upload_bytes=len(data)))
    with pytest.raises(UploadTooLarge) as info:
        scan(data, LimitsSettings(max_upload_bytes=len(data) - 1))
    assert info.value.http_status == 413


def test_empty_and_unknown_input() -> None:
    with pytest.raises(UndecodableImage, match="empty"):
        HeaderScanner(LIMITS).finish()
    with pytest.raises(UnsupportedMediaType) as info:
        scan(b"just some text, not an image" * 10, LIMITS)
    assert info.value.http_status == 415


@pytest.mark.parametrize("mime", ["image/jpeg", "image/png", "image/gif", "image/webp"])
def test_garbage_after_magic_is_rejected(mime: str) -> None:
    # Undecodable, or a size read from the noise that breaks a limit: 422 either way.
    with pytest.raises(ImageRejected) as info:
        scan(images.garbage_after_magic(mime), LIMITS)
    assert info.value.http_status == 422


def test_header_missing_from_a_truncated_file_is_undecodable() -> None:
    with pytest.raises(UndecodableImage, match="TIFF header"):
        scan(images.tiff_bytes(900, 700)[:4096], LIMITS)


def test_a_refused_scanner_stays_refused() -> None:
    scanner = HeaderScanner(LIMITS)
    with pytest.raises(UnsupportedMediaType):
        scanner.feed(b"x" * 100)
    with pytest.raises(UnsupportedMediaType):
        scanner.finish()


@pytest.mark.parametrize(
    ("kwargs", "raw", "mime"),
    [
        ({}, "DNG", "image/x-adobe-dng"),
        ({"subs_first": False}, "DNG", "image/x-adobe-dng"),
        ({"dng": False, "make": "NIKON CORPORATION"}, "NEF", "image/x-nikon-nef"),
        ({"dng": False, "make": "SONY"}, "ARW", "image/x-sony-arw"),
        ({"dng": False, "make": "PENTAX"}, "RAW", "image/x-raw"),
    ],
)
@pytest.mark.parametrize("chunk", [333, 1 << 20])
def test_camera_raw_is_detected_with_the_sensor_size(
    kwargs: dict[str, object], raw: str, mime: str, chunk: int
) -> None:
    header = scan(dng_bytes(**kwargs), LIMITS, chunk=chunk)  # type: ignore[arg-type]
    assert (header.raw, header.mime, header.width, header.height) == (raw, mime, 640, 480)


@pytest.mark.parametrize(
    ("head", "raw"),
    [
        (b"IIRO\x08\x00\x00\x00", "ORF"),
        (b"IIU\x00\x08\x00\x00\x00", "RW2"),
        (b"II*\x00\x10\x00\x00\x00CR\x02\x00\x00\x00\x00\x00", "CR2"),
    ],
)
def test_raw_magic_numbers(head: bytes, raw: str) -> None:
    # One IFD with a 640x480 size right after the header (RW2: sensor size tags 2 and 3).
    w_tag, h_tag = (2, 3) if raw == "RW2" else (256, 257)
    ifd = (2).to_bytes(2, "little")
    for tag, value in ((w_tag, 640), (h_tag, 480)):
        ifd += tag.to_bytes(2, "little") + b"\x04\x00\x01\x00\x00\x00" + value.to_bytes(4, "little")
    data = head + b"\x00" * (int.from_bytes(head[4:8], "little") - len(head)) + ifd + b"\0" * 4
    header = scan(data, LIMITS, chunk=5)
    assert (header.raw, header.width, header.height) == (raw, 640, 480)


def test_cr3_and_raf_are_detected() -> None:
    def box(kind: bytes, body: bytes) -> bytes:
        return (8 + len(body)).to_bytes(4, "big") + kind + body

    craw = box(
        b"CRAW", b"\0" * 24 + (6000).to_bytes(2, "big") + (4000).to_bytes(2, "big") + b"\0" * 8
    )
    stsd = box(b"stsd", b"\0" * 4 + (1).to_bytes(4, "big") + craw)
    moov = box(b"moov", box(b"trak", box(b"mdia", box(b"minf", box(b"stbl", stsd)))))
    cr3 = box(b"ftyp", b"crx \0\0\0\1crx isom") + moov + box(b"mdat", b"\0" * 1000)
    header = scan(cr3, LIMITS, chunk=3)
    assert (header.raw, header.mime, header.width, header.height) == (
        "CR3",
        "image/x-canon-cr3",
        6000,
        4000,
    )

    raf = bytearray(b"FUJIFILMCCD-RAW 0201FF383501" + b"\0" * (0x64 - 28))
    raf[0x5C:0x60] = (0x80).to_bytes(4, "big")
    raf += b"\0" * (0x80 - len(raf)) + (1).to_bytes(4, "big") + b"\x01\x00\x00\x04"
    raf += (4000).to_bytes(2, "big") + (6000).to_bytes(2, "big")
    header = scan(bytes(raf), LIMITS, chunk=7)
    assert (header.raw, header.width, header.height) == ("RAF", 6000, 4000)
