"""The shared bad-input cases that concern the gate and the decoder, one test per row.

Each test checks what a user sees: the gate's verdict on the upload (the scanner, chunked as
the gateway streams it) and the image the worker renders (``render_image``).
"""

from __future__ import annotations

import pytest
import pyvips

from pipeline.domain.errors import TooManyScans
from pipeline.imaging.render import RenderResult, render_image
from pipeline.imaging.spec import DEFAULT_SPEC
from pipeline.runtime.settings import LimitsSettings
from tests.unit.scanning import case, scan

pytestmark = pytest.mark.unit
LIMITS = LimitsSettings()


def _accept_and_render(name: str) -> RenderResult:
    data = case(name)
    scan(data, LIMITS, chunk=16 * 1024)  # the gate lets it in
    return render_image(data, DEFAULT_SPEC, LIMITS)


def _decoded(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


def test_c01_display_p3_comes_out_srgb_without_a_profile() -> None:
    result = _accept_and_render("c01_display_p3.jpg")
    for rendition in result.renditions:
        image = _decoded(rendition.data)
        assert not image.get_typeof("icc-profile-data")
        if rendition.name == "thumb":
            continue  # smart-cropped: the halves are not where they were
        left = image.getpoint(image.width // 4, image.height // 2)
        right = image.getpoint(3 * image.width // 4, image.height // 2)
        assert all(abs(a - b) <= 6 for a, b in zip(left, (40, 170, 90), strict=True)), left
        assert all(abs(a - b) <= 6 for a, b in zip(right, (200, 80, 40), strict=True)), right


def test_c02_png_exif_orientation_6_is_shown_upright() -> None:
    result = _accept_and_render("c02_png_exif_orient6.png")
    assert (result.width, result.height) == (200, 300)
    large = _decoded(result.renditions[-1].data)
    assert (large.width, large.height) == (200, 300)


def test_c03_palette_transparency_keeps_alpha_in_webp_and_white_in_jpeg() -> None:
    result = _accept_and_render("c03_palette_trns.png")
    source = _decoded(case("c03_palette_trns.png"))
    x, y = next(
        (x, y)
        for y in range(0, source.height, 5)
        for x in range(0, source.width, 5)
        if source.getpoint(x, y)[-1] == 0
    )  # a transparent pixel (its palette colour is red)
    for rendition in result.renditions:
        if rendition.name == "thumb":
            continue
        image = _decoded(rendition.data)
        sx, sy = x * image.width // source.width, y * image.height // source.height
        pixel = image.getpoint(sx, sy)
        if rendition.extension == "webp":
            assert image.hasalpha()
            assert pixel[-1] < 10
        else:
            assert not image.hasalpha()
            assert min(pixel) > 235, f"{rendition.name}: {pixel} is not white"


def test_c04_multipage_tiff_has_three_frames_and_shows_page_one() -> None:
    header = scan(case("c04_multipage.tif"), LIMITS, chunk=1000)
    assert header.frames == 3
    result = _accept_and_render("c04_multipage.tif")
    assert result.frames == 3
    for rendition in result.renditions:
        stats = _decoded(rendition.data).stats()  # row b + 1, column 4: mean of band b
        red, green, blue = (stats(4, band + 1)[0] for band in range(3))
        assert red > 180
        assert max(green, blue) < 60


def test_c05_dng_renders_the_sensor_image_not_the_preview() -> None:
    header = scan(case("c05_small_preview.dng"), LIMITS, chunk=16 * 1024)
    assert (header.raw, header.width, header.height) == ("DNG", 640, 480)
    result = _accept_and_render("c05_small_preview.dng")
    assert (result.width, result.height) == (640, 480)
    large = _decoded(result.renditions[-1].data)
    assert (large.width, large.height) == (640, 480)


@pytest.mark.parametrize("chunk", [1000, 64 * 1024, 1 << 21])
def test_c06_megabyte_of_xmp_before_the_frame_header_is_accepted(chunk: int) -> None:
    header = scan(case("c06_extended_xmp.jpg"), LIMITS, chunk=chunk)
    assert (header.width, header.height) == (400, 300)
    result = _accept_and_render("c06_extended_xmp.jpg")
    assert (result.width, result.height) == (400, 300)


def test_c14_scan_bomb_is_refused_at_upload_naming_the_scan_count() -> None:
    with pytest.raises(TooManyScans) as info:
        scan(case("c14_scan_bomb.jpg"), LIMITS)
    assert info.value.http_status == 422
    assert "14395 scans" in info.value.public_message


@pytest.mark.parametrize("name", ["c15_orient5.jpg", "c15_orient7.jpg"])
def test_c15_transpose_and_transverse_are_shown_upright(name: str) -> None:
    result = _accept_and_render(name)
    assert (result.width, result.height) == (200, 300)
    assert result.metadata["orientation"] in (5, 7)


def test_c16_heic_with_irot_and_exif_6_is_rotated_once() -> None:
    header = scan(case("c16_heic_irot.heic"), LIMITS, chunk=100)
    result = _accept_and_render("c16_heic_irot.heic")
    # The coded image is 300x200, irot turns it; EXIF orientation 6 must not turn it again.
    assert (header.width, header.height) == (200, 300)
    assert (result.width, result.height) == (200, 300)
    large = _decoded(result.renditions[-1].data)
    assert (large.width, large.height) == (200, 300)
