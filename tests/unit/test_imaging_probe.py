"""Sniffing magic bytes and probing headers against the limits."""

from __future__ import annotations

import time

import pytest

from pipeline.domain.errors import (
    ImageTooLarge,
    TooManyFrames,
    UndecodableImage,
    UnsupportedMediaType,
)
from pipeline.imaging.probe import probe_header
from pipeline.imaging.sniff import SUPPORTED_MIME, sniff_mime
from pipeline.runtime.settings import LimitsSettings
from tests import images

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
    heic = images.heic_bytes(64, 48)
    if heic is not None:
        samples["image/heic"] = heic
    return samples


SAMPLES = _samples()


@pytest.mark.parametrize("mime", sorted(SAMPLES))
def test_sniff_each_supported_type(mime: str) -> None:
    assert sniff_mime(SAMPLES[mime][:64]) == mime
    assert mime in SUPPORTED_MIME


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello world, this is text",
        b"%PDF-1.7\n",
        b'<svg xmlns="http://www.w3.org/2000/svg"/>',
        b"BM" + b"\x00" * 60,  # BMP: not supported
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",  # an MP4 video
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
    ],
)
def test_sniff_rejects_non_images(data: bytes) -> None:
    assert sniff_mime(data) is None


@pytest.mark.parametrize("mime", sorted(SAMPLES))
def test_probe_reads_size_and_frames(mime: str) -> None:
    header = probe_header(SAMPLES[mime], LIMITS, complete=True)
    assert (header.mime, header.width, header.height) == (mime, 64, 48)
    assert header.frames == (2 if mime == "image/gif" else 1)


@pytest.mark.parametrize("mime", ["image/jpeg", "image/webp", "image/avif", "image/heic"])
def test_probe_reads_a_partial_head(mime: str) -> None:
    # Big enough that the head is a small part of the file; libvips cannot read WebP, TIFF
    # and HEIF headers from a partial file, the container parsers can.
    data = {
        "image/jpeg": lambda: images.jpeg_bytes(900, 700),
        "image/webp": lambda: images.webp_bytes(900, 700),
        "image/avif": lambda: images.avif_bytes(900, 700),
        "image/heic": lambda: images.heic_bytes(900, 700),
    }[mime]()
    if data is None:
        pytest.skip("no HEIC encoder (pillow-heif) installed")
    head = data[: max(4096, len(data) // 3)]
    header = probe_header(head, LIMITS, complete=False)
    assert (header.mime, header.width, header.height) == (mime, 900, 700)


def test_partial_tiff_with_trailing_ifd_is_undecodable() -> None:
    # libtiff writes the first IFD after the pixel data: the size is not in the head, and a
    # size we do not know cannot be checked against the limits.
    data = images.tiff_bytes(900, 700)
    with pytest.raises(UndecodableImage, match="within the first 4096 bytes"):
        probe_header(data[:4096], LIMITS, complete=False)


def test_png_bomb_is_rejected_fast_without_decoding() -> None:
    bomb = images.png_bomb_bytes(50000)
    assert len(bomb) < 8192
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge, match="50000x50000"):
        probe_header(bomb, LIMITS, complete=True)
    # A decode would allocate 2.5 GB and take seconds; a header read takes microseconds.
    assert time.perf_counter() - started < 0.5


def test_jpeg_bomb_header_is_rejected_fast() -> None:
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge) as info:
        probe_header(images.jpeg_bomb_header_bytes(60000), LIMITS, complete=True)
    assert time.perf_counter() - started < 0.5
    assert info.value.http_status == 422
    assert "60000x60000" in info.value.public_message


def test_side_limit() -> None:
    limits = LimitsSettings(max_side=1000)
    assert probe_header(images.png_bytes(1000, 10), limits, complete=True).width == 1000
    with pytest.raises(ImageTooLarge):
        probe_header(images.png_bytes(1001, 10), limits, complete=True)


def test_pixel_limit() -> None:
    limits = LimitsSettings(max_pixels=100 * 100)
    probe_header(images.png_bytes(100, 100), limits, complete=True)
    with pytest.raises(ImageTooLarge):
        probe_header(images.png_bytes(101, 100), limits, complete=True)


@pytest.mark.parametrize("kind", ["gif", "webp"])
def test_frame_limit(kind: str) -> None:
    data = images.gif_bytes(32, 24, 4) if kind == "gif" else images.webp_bytes(32, 24, frames=4)
    assert probe_header(data, LimitsSettings(max_frames=4), complete=True).frames == 4
    with pytest.raises(TooManyFrames, match="4 frames"):
        probe_header(data, LimitsSettings(max_frames=3), complete=True)


def test_zero_bytes_is_undecodable() -> None:
    with pytest.raises(UndecodableImage, match="empty"):
        probe_header(b"", LIMITS, complete=True)


def test_unknown_magic_is_unsupported() -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        probe_header(b"just some text, not an image" * 10, LIMITS, complete=True)
    assert info.value.http_status == 415


@pytest.mark.parametrize("mime", ["image/jpeg", "image/png", "image/gif", "image/webp"])
@pytest.mark.parametrize("complete", [True, False])
def test_garbage_after_magic_is_undecodable(mime: str, complete: bool) -> None:
    with pytest.raises(UndecodableImage):
        probe_header(images.garbage_after_magic(mime), LIMITS, complete=complete)


def test_zero_size_png_header_is_undecodable() -> None:
    data = bytearray(images.png_bytes(8, 8))
    data[16:24] = b"\x00" * 8  # IHDR width and height = 0
    with pytest.raises(UndecodableImage):
        probe_header(bytes(data), LIMITS, complete=True)
