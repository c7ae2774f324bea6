"""The shared bad-input cases (``shared/cases``), each sent through the gateway as a user would.

One test per row of the cases table that concerns what an upload becomes: the status the
gateway answers, then the image the worker makes of it, judged by what a person would see
(sizes, colours, orientation, transparency), never by bytes. The HTTP-behaviour rows (file
names, ``Expect``, ``HEAD``, conditional GETs, cursors) live with the gateway's tests.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import pyvips

from pipeline.runtime.settings import LimitsSettings
from tests import images
from tests.conftest import SettingsFactory
from tests.e2e.conftest import Api, StackFactory
from tests.e2e.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

CASES = Path(__file__).resolve().parents[1] / "data" / "cases"


def case(name: str) -> bytes:
    return (CASES / name).read_bytes()


def decoded(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


@pytest.fixture
async def stack(make_settings: SettingsFactory, start_stack: StackFactory) -> Stack:
    """A freshly started stack: its render processes have rendered nothing yet."""
    return await start_stack(make_settings())


@pytest.fixture
async def api(stack: Stack, api_for: Any) -> Api:
    result: Api = await api_for(stack, "alice")
    return result


def near(pixel: list[float], expected: tuple[int, int, int], levels: int = 8) -> bool:
    return all(abs(a - b) <= levels for a, b in zip(pixel, expected, strict=True))


async def ready_image(
    api: Api, name: str, content_type: str = "application/octet-stream"
) -> dict[str, Any]:
    """Upload a case file raw (the gateway sniffs the type, not the header) and wait for ready."""
    status, doc = await api.upload(case(name), content_type=content_type)
    assert status == 202, doc
    ready = await api.wait_status(doc["id"], {"ready", "failed"}, timeout=120)
    assert ready["status"] == "ready", ready
    return ready


async def rendition(api: Api, doc: dict[str, Any], name: str) -> pyvips.Image:
    status, body = await api.get(doc["renditions"][name]["url"])
    assert status == 200
    return decoded(body)


async def test_c01_display_p3_renditions_are_srgb_without_a_profile(api: Api) -> None:
    doc = await ready_image(api, "c01_display_p3.jpg")
    for name in ("preview", "large"):
        image = await rendition(api, doc, name)
        assert not image.get_typeof("icc-profile-data"), f"{name} kept an ICC profile"
        left = image.getpoint(image.width // 4, image.height // 2)
        right = image.getpoint(3 * image.width // 4, image.height // 2)
        assert all(abs(a - b) <= 8 for a, b in zip(left, (40, 170, 90), strict=True)), left
        assert all(abs(a - b) <= 8 for a, b in zip(right, (200, 80, 40), strict=True)), right


async def test_c02_png_with_exif_orientation_6_is_upright(api: Api) -> None:
    doc = await ready_image(api, "c02_png_exif_orient6.png")
    assert (doc["width"], doc["height"]) == (200, 300)
    large = await rendition(api, doc, "large")
    assert (large.width, large.height) == (200, 300)


async def test_c03_palette_transparency_kept_in_webp_flattened_white_in_jpeg(api: Api) -> None:
    source = decoded(case("c03_palette_trns.png"))
    x, y = next(
        (x, y)
        for y in range(0, source.height, 5)
        for x in range(0, source.width, 5)
        if source.getpoint(x, y)[-1] == 0
    )  # a transparent pixel whose palette colour is red
    doc = await ready_image(api, "c03_palette_trns.png")
    preview = await rendition(api, doc, "preview")  # WebP
    large = await rendition(api, doc, "large")  # JPEG
    assert preview.hasalpha()
    px = preview.getpoint(x * preview.width // source.width, y * preview.height // source.height)
    assert px[-1] < 10, px
    assert not large.hasalpha()
    px = large.getpoint(x * large.width // source.width, y * large.height // source.height)
    assert min(px) > 235, f"flattened onto {px}, not white"


async def test_c04_multipage_tiff_has_three_frames_and_shows_page_one(api: Api) -> None:
    doc = await ready_image(api, "c04_multipage.tif")
    assert doc["frames"] == 3
    for name in ("thumb", "preview", "large"):
        stats = (await rendition(api, doc, name)).stats()
        red, green, blue = (stats(4, band + 1)[0] for band in range(3))
        assert red > 180, (name, red)
        assert max(green, blue) < 60, (name, green, blue)


async def test_c05_dng_is_rendered_from_the_sensor_not_the_preview(api: Api) -> None:
    doc = await ready_image(api, "c05_small_preview.dng")
    assert (doc["width"], doc["height"]) == (640, 480)
    large = await rendition(api, doc, "large")
    assert (large.width, large.height) == (640, 480)


async def test_c06_megabyte_of_xmp_before_the_frame_header_is_accepted(api: Api) -> None:
    doc = await ready_image(api, "c06_extended_xmp.jpg")
    assert (doc["width"], doc["height"]) == (400, 300)


async def test_c10_six_concurrent_uploads_of_one_photo_are_one_image(api: Api) -> None:
    photo = case("c10_dup.jpg")
    answers = await asyncio.gather(*(api.upload(photo) for _ in range(6)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200, 200, 200, 200, 200, 202], answers
    assert len({doc["id"] for _, doc in answers}) == 1
    _, listing = await api.get("/v1/images")
    assert [item["id"] for item in listing["items"]] == [answers[0][1]["id"]]


async def test_c14_scan_bomb_is_refused_at_upload_naming_the_scans(api: Api) -> None:
    status, doc = await api.upload(case("c14_scan_bomb.jpg"))
    assert status == 422, doc
    assert "scans" in doc["error"]["message"], doc
    _, listing = await api.get("/v1/images")
    assert listing["items"] == []


@pytest.mark.parametrize("name", ["c15_orient5.jpg", "c15_orient7.jpg"])
async def test_c15_transpose_and_transverse_are_upright(api: Api, name: str) -> None:
    doc = await ready_image(api, name)
    assert (doc["width"], doc["height"]) == (200, 300)
    large = await rendition(api, doc, "large")
    assert (large.width, large.height) == (200, 300)


async def test_c16_heic_with_irot_and_exif_6_is_rotated_once(api: Api) -> None:
    doc = await ready_image(api, "c16_heic_irot.heic")
    large = await rendition(api, doc, "large")
    assert (large.width, large.height) == (200, 300)


async def test_a_normal_photo_is_not_held_up_by_a_refused_bomb(api: Api) -> None:
    bombs = [api.upload(case("c14_scan_bomb.jpg")) for _ in range(4)]
    photo = api.upload(case("c15_orient5.jpg"))
    *refused, (status, doc) = await asyncio.gather(*bombs, photo)
    assert [s for s, _ in refused] == [422] * 4
    assert status == 202, doc
    ready = await api.wait_status(doc["id"], {"ready", "failed"}, timeout=60)
    assert ready["status"] == "ready", ready


async def test_c28_untagged_cmyk_renders_in_fresh_and_warm_render_processes(
    stack: Stack, api: Api
) -> None:
    # The first render of a freshly started stack runs in a fresh render process: this is
    # where libvips' freed fallback profile killed every attempt (SIGSEGV, exit -11).
    fresh = await ready_image(api, "c28_cmyk_noprofile.jpg")
    # Warm: the same process after other renders, with another untagged CMYK file.
    await ready_image_of(api, images.jpeg_bytes(320, 240))
    warm = await ready_image_of(api, images.cmyk_jpeg_bytes(320, 240, profile=False))
    for name in ("preview", "large"):
        image = await rendition(api, fresh, name)
        y = image.height // 2
        left, right = image.getpoint(image.width // 4, y), image.getpoint(3 * image.width // 4, y)
        assert near(left, (232, 30, 42)), (name, left)  # red ink mix
        assert near(right, (0, 155, 229)), (name, right)  # pure cyan
        assert (await rendition(api, warm, name)).bands == 3
    assert "render process died" not in stack.logs(), "a render process crashed on the way"


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
async def test_c29_jpeg_without_eoi_is_ready_with_every_row(api: Api, progressive: bool) -> None:
    if progressive:  # the same kind, progressive: complete scans, no EOI marker
        scene = images.scene(400, 300)
        data = bytes(scene.jpegsave_buffer(Q=90, interlace=True))[:-2]
        doc = await ready_image_of(api, data)
    else:
        scene = decoded(case("c29_baseline_no_eoi.jpg"))
        doc = await ready_image(api, "c29_baseline_no_eoi.jpg")
    assert (doc["width"], doc["height"]) == (400, 300)
    large = await rendition(api, doc, "large")
    assert (large.width, large.height) == (400, 300)
    bottom = large.crop(0, 290, 400, 10).avg()  # the last rows: a cut file would be grey there
    assert abs(bottom - scene.crop(0, 290, 400, 10).avg()) < 4, bottom


async def test_c29_a_jpeg_cut_inside_its_last_scan_still_fails(api: Api) -> None:
    data = bytes(images.scene(400, 300).jpegsave_buffer(Q=90))[:-300]
    status, doc = await api.upload(data)
    assert status == 202, doc
    failed = await api.wait_status(doc["id"], {"ready", "failed"})
    assert failed["status"] == "failed", failed


@pytest.mark.parametrize("primary", [2, 1], ids=["primary-second", "primary-first"])
async def test_c30_heif_with_two_images_is_the_primary_everywhere(api: Api, primary: int) -> None:
    data = case("c30_heic_primary_second.heic")
    at = data.index(b"pitm") + 8  # its 16-bit item id: 2 is the 300x200, 1 the 640x480
    data = data[:at] + primary.to_bytes(2, "big") + data[at + 2 :]
    size = (300, 200) if primary == 2 else (640, 480)
    status, answer = await api.upload(data)
    assert status == 202, answer
    assert (answer["width"], answer["height"]) == size
    doc = await api.wait_status(answer["id"], {"ready", "failed"})
    assert doc["status"] == "ready", doc
    assert (doc["width"], doc["height"]) == size
    for name in ("thumb", "preview", "large"):
        image = await rendition(api, doc, name)
        assert image.width <= size[0], (name, image.width)
        assert image.height <= size[1], (name, image.height)
        if name != "thumb":  # fitted renditions keep the primary's shape: never stretched
            ratio = (image.width / image.height) / (size[0] / size[1])
            assert ratio == pytest.approx(1, abs=0.02), name


# 640x480: a screen size libnsgif decodes only up to the first frame's far corner.
@pytest.mark.parametrize("canvas", [(200, 160), (640, 480)])
async def test_gif_canvas_its_first_frame_leaves_is_transparent_not_black(
    api: Api, canvas: tuple[int, int]
) -> None:
    red, (w, h) = (220, 30, 30), canvas
    first = (w // 5, h // 4, w * 2 // 5, h * 3 // 8, red)
    data = images.partial_gif_bytes(canvas, [first, (0, 0, w, h, (0, 0, 200))])
    doc = await ready_image_of(api, data)
    assert (doc["width"], doc["height"], doc["frames"]) == (w, h, 2)
    preview = await rendition(api, doc, "preview")  # WebP
    large = await rendition(api, doc, "large")  # JPEG
    assert (large.width, large.height) == (w, h), "never cropped nor stretched"
    assert preview.hasalpha()
    for x, y in ((5, 5), (w - 5, h - 5)):
        assert preview.getpoint(x, y)[3] == 0, (x, y)
        assert near(large.getpoint(x, y), (255, 255, 255)), "flattened onto white, never black"
    assert near(preview.getpoint(w * 2 // 5, h * 3 // 8)[:3], red)


async def test_apng_frames_count_the_default_image_and_the_limit_holds(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for: Any
) -> None:
    stack = await start_stack(make_settings(limits=LimitsSettings(max_frames=2)))
    api = await api_for(stack, "alice")
    status, doc = await api.upload(images.apng_bytes(64, 48, 3))
    assert status == 422, doc
    assert "3 frames" in doc["error"]["message"], doc
    doc = await ready_image_of(api, images.apng_bytes(64, 48, 2))
    assert doc["frames"] == 2
    assert "animated" in doc["renditions"], "an APNG plays like a GIF"


async def ready_image_of(api: Api, data: bytes) -> dict[str, Any]:
    status, doc = await api.upload(data, content_type="application/octet-stream")
    assert status == 202, doc
    ready = await api.wait_status(doc["id"], {"ready", "failed"}, timeout=120)
    assert ready["status"] == "ready", ready
    return ready
