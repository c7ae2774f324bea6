"""Property tests of the ingest gate (hypothesis): whatever the bytes and however they are split,
the scanner answers with the error tree or a header, in bounded time and memory.

Seeds are valid images of every type (generated) and the shared case files; hypothesis
mutates them (byte changes, cuts, splices, 0xFF runs that make huge sizes and counts) and
splits them into random chunks. Bounded: a fixed number of examples, a deadline per example,
derandomized so a run on CI is the run on a laptop.
"""

from __future__ import annotations

import functools
import itertools

import pytest
import pyvips
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.domain.errors import InputError
from pipeline.imaging.scan import BUFFER_BOUND, HeaderScanner, ImageHeader
from pipeline.runtime.settings import LimitsSettings
from tests import images
from tests.unit.raw_images import dng_bytes
from tests.unit.scanning import case

pytestmark = pytest.mark.unit
LIMITS = LimitsSettings(max_pixels=50_000_000, max_frames=50, max_jpeg_scans=50)
PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=2000,  # ms per example: a hang fails instead of stalling the suite
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def seeds() -> tuple[bytes, ...]:
    generated = [
        images.jpeg_bytes(96, 64, orientation=6, camera=True),
        bytes(images.scene(64, 48).jpegsave_buffer(interlace=True)),
        images.png_bytes(64, 48, alpha=True),
        images.gif_bytes(32, 24, 3),
        images.webp_bytes(48, 32, frames=2),
        images.webp_bytes(48, 32),
        images.tiff_bytes(48, 32),
        images.avif_bytes(48, 32),
        dng_bytes(64, 48),
        dng_bytes(64, 48, subs_first=False, dng=False, make="NIKON"),
    ]
    if (heic := images.heic_bytes(48, 32)) is not None:
        generated.append(heic)
    small_cases = ["c01_display_p3.jpg", "c02_png_exif_orient6.png", "c03_palette_trns.png"]
    small_cases += ["c04_multipage.tif", "c15_orient5.jpg", "c16_heic_irot.heic"]
    return (*generated, *(case(name) for name in small_cases))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds())))
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.integers(0, 3))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == 0 and data:  # change a byte
            data[pos] = draw(st.integers(0, 255))
        elif kind == 1:  # cut
            del data[pos:]
        elif kind == 2:  # splice random bytes in
            data[pos:pos] = draw(st.binary(max_size=64))
        else:  # a run of 0xFF: huge sizes, lengths, counts and offsets
            data[pos : pos + 4] = b"\xff\xff\xff\xff"
    return bytes(data)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def _scan_in_pieces(data: bytes, cuts: list[int]) -> ImageHeader | InputError:
    scanner = HeaderScanner(LIMITS)
    try:
        for piece in _split(data, cuts):
            scanner.feed(piece)
            assert scanner.buffered_bytes <= BUFFER_BOUND
        return scanner.finish()
    except InputError as exc:  # anything else fails the test: it is outside the error tree
        return exc


@PROPERTY_SETTINGS
@given(
    data=st.one_of(mutated(), st.binary(max_size=4096)),
    cuts=st.lists(st.integers(0, 1 << 20), max_size=12),
)
def test_any_bytes_in_any_chunks_give_a_header_or_an_input_error(
    data: bytes, cuts: list[int]
) -> None:
    _scan_in_pieces(data, cuts)


@PROPERTY_SETTINGS
@given(data=mutated(), cuts=st.lists(st.integers(0, 1 << 20), max_size=12))
def test_the_verdict_does_not_depend_on_the_chunking(data: bytes, cuts: list[int]) -> None:
    whole = _scan_in_pieces(data, [])
    pieces = _scan_in_pieces(data, cuts)
    if isinstance(whole, ImageHeader):
        assert pieces == whole
    else:
        assert type(pieces) is type(whole)


@settings(max_examples=40, deadline=5000, derandomize=True)
@given(
    kind=st.sampled_from(["jpeg", "png", "gif", "webp", "tiff", "avif"]),
    width=st.integers(1, 300),
    height=st.integers(1, 300),
    cuts=st.lists(st.integers(0, 1 << 16), max_size=6),
)
def test_the_header_of_a_valid_image_equals_what_libvips_reads(
    kind: str, width: int, height: int, cuts: list[int]
) -> None:
    data = {
        "jpeg": images.jpeg_bytes,
        "png": images.png_bytes,
        "gif": images.gif_bytes,
        "webp": images.webp_bytes,
        "tiff": images.tiff_bytes,
        "avif": images.avif_bytes,
    }[kind](width, height)
    header = _scan_in_pieces(data, cuts)
    assert isinstance(header, ImageHeader)
    vips = pyvips.Image.new_from_buffer(data, "")
    frames = vips.get("n-pages") if vips.get_typeof("n-pages") else 1
    assert (header.width, header.height, header.frames) == (vips.width, vips.height, frames)
