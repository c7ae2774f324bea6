"""Deep Zoom tiles and letterboxed crops: what the worker renders for big and odd shapes."""

from __future__ import annotations

import io
import zipfile
from functools import cache

import pytest
import pyvips

from pipeline.imaging import deepzoom
from pipeline.imaging.render import RenderedRendition, RenderResult, render_image
from pipeline.imaging.spec import DEFAULT_SPEC, RenditionSpec, parse_spec
from pipeline.runtime.settings import LimitsSettings
from tests import images

pytestmark = pytest.mark.unit

# Small thresholds keep the originals (and the CPU) small; the defaults are tested below.
TILED = LimitsSettings(deep_zoom_min_side=1000)


@cache
def panorama() -> bytes:
    return images.jpeg_bytes(3000, 600, seed=5)


def by_name(result: RenderResult) -> dict[str, RenderedRendition]:
    return {r.name: r for r in result.renditions}


def test_a_photo_above_the_threshold_gets_every_level_of_tiles_in_one_zip() -> None:
    result = render_image(panorama(), DEFAULT_SPEC, TILED)
    out = by_name(result)
    assert list(out) == ["thumb", "preview", "large", "tiles"]
    tiles = out["tiles"]
    assert (tiles.width, tiles.height) == (3000, 600)
    assert (tiles.extension, tiles.content_type) == ("zip", "application/zip")
    assert tiles.spec_hash == deepzoom.SPEC_HASH
    archive = zipfile.ZipFile(io.BytesIO(tiles.data))
    assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}, "ranged reads"
    top = deepzoom.max_level(3000, 600)
    assert top == 12
    for level in range(top + 1):
        scale = 2 ** (top - level)
        width, height = -(-3000 // scale), -(-600 // scale)
        cols, rows = -(-width // deepzoom.TILE_SIZE), -(-height // deepzoom.TILE_SIZE)
        names = {n for n in archive.namelist() if n.startswith(f"{deepzoom.ROOT}/{level}/")}
        assert len(names) == cols * rows, f"level {level}"
    # The last full-size tile: 254 px cells, 1 px overlap before it, the rest of the width.
    last = archive.read(deepzoom.tile_path(top, 11, 2))
    assert images.sniffed(last) == "image/jpeg"
    assert images.size_of(last) == (3000 - 11 * 254 + 1, 600 - 2 * 254 + 1)
    assert not images.has_exif(last)
    # The full-size tiles are the original's pixels (not the 2048 px master blown up).
    tile = pyvips.Image.new_from_buffer(archive.read(deepzoom.tile_path(top, 5, 1)), "")
    crop = pyvips.Image.new_from_buffer(panorama(), "").crop(5 * 254 - 1, 254 - 1, 256, 256)
    assert images.similarity(tile.jpegsave_buffer(), crop.jpegsave_buffer()) > 0.98


def test_the_other_renditions_are_the_same_with_or_without_tiles() -> None:
    plain = by_name(render_image(panorama(), DEFAULT_SPEC, LimitsSettings()))
    tiled = by_name(render_image(panorama(), DEFAULT_SPEC, TILED))
    assert "tiles" not in plain
    for name in ("thumb", "preview", "large"):
        assert (plain[name].width, plain[name].height) == (tiled[name].width, tiled[name].height)
        assert images.similarity(plain[name].data, tiled[name].data) > 0.99


@pytest.mark.parametrize(("side", "tiled"), [(3000, False), (2999, True), (0, False)])
def test_the_threshold_is_the_long_side_and_zero_turns_tiles_off(side: int, tiled: bool) -> None:
    result = render_image(panorama(), DEFAULT_SPEC, LimitsSettings(deep_zoom_min_side=side))
    assert ("tiles" in by_name(result)) is tiled


def test_the_default_threshold_leaves_an_ordinary_photo_alone() -> None:
    assert LimitsSettings().deep_zoom_min_side == 8192
    result = render_image(images.jpeg_bytes(4000, 3000), DEFAULT_SPEC, LimitsSettings())
    assert "tiles" not in by_name(result)


def test_a_portrait_with_orientation_is_tiled_upright() -> None:
    original = images.jpeg_bytes(400, 1200, orientation=6)  # stored 1200 x 400, shown portrait
    result = render_image(original, DEFAULT_SPEC, LimitsSettings(deep_zoom_min_side=500))
    tiles = by_name(result)["tiles"]
    assert (tiles.width, tiles.height) == (400, 1200) == (result.width, result.height)
    archive = zipfile.ZipFile(io.BytesIO(tiles.data))
    top = archive.read(deepzoom.tile_path(deepzoom.max_level(400, 1200) - 3, 0, 0))
    assert images.size_of(top) == (50, 150)
    assert images.bright_corner(top) == "top-left"


@pytest.mark.parametrize("name", ["tiles", "video", "motion"])
def test_the_worker_s_own_rendition_names_are_refused_in_a_spec(name: str) -> None:
    with pytest.raises(Exception, match="reserved"):
        parse_spec(f'[{{"name": "{name}", "width": 10, "height": 10, "format": "webp"}}]')


# ---- letterboxed crops ----------------------------------------------------------------


def pixels(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


def test_a_strip_s_thumb_is_the_whole_strip_in_a_padded_square() -> None:
    strip = images.png_bytes(20000, 3, seed=2)
    thumb = by_name(render_image(strip, DEFAULT_SPEC, LimitsSettings()))["thumb"]
    assert (thumb.width, thumb.height) == (256, 256), "a square like every grid tile"
    image = pixels(thumb.data)
    assert image.hasalpha()
    assert image[3].crop(0, 0, 256, 100).max() == 0, "transparent above the strip"
    assert image[3].crop(0, 127, 256, 1).min() == 255, "the strip crosses the whole tile"


def test_a_jpeg_crop_is_padded_white_and_a_moderate_shape_still_cropped() -> None:
    spec = (RenditionSpec(name="square", width=200, height=200, crop="centre", format="jpeg"),)
    tall = pixels(
        render_image(images.jpeg_bytes(100, 1000), spec, LimitsSettings()).renditions[0].data
    )
    assert (tall.width, tall.height) == (200, 200)
    assert tall.crop(0, 0, 60, 200).min() >= 250, "white beside a 20 px wide column"
    wide = render_image(images.jpeg_bytes(1200, 400), spec, LimitsSettings()).renditions[0]
    assert (wide.width, wide.height) == (200, 200)
    assert pixels(wide.data).crop(0, 0, 200, 20).min() < 250, "3:1 is below the ratio: cropped"


def test_the_letterbox_ratio_is_a_setting() -> None:
    original = images.jpeg_bytes(1200, 400)
    spec = (RenditionSpec(name="square", width=200, height=200, crop="centre", format="jpeg"),)
    boxed = render_image(original, spec, LimitsSettings(letterbox_ratio=2.5)).renditions[0]
    assert (boxed.width, boxed.height) == (200, 200)
    assert pixels(boxed.data).crop(0, 0, 200, 60).min() >= 250, "fitted 200 x 67, padded"


def test_a_small_strip_is_padded_to_a_square_of_its_own_length_not_enlarged() -> None:
    strip = images.png_bytes(100, 10)
    thumb = by_name(render_image(strip, DEFAULT_SPEC, LimitsSettings()))["thumb"]
    assert (thumb.width, thumb.height) == (100, 100)
