"""The ``animated`` rendition: animated GIF, WebP and PNG (APNG) kept moving, frames and
delays intact, bounded in size by the ``animated_*`` limits."""

from __future__ import annotations

import pytest
import pyvips

from pipeline.imaging import animated
from pipeline.imaging.render import RenderedRendition, RenderResult, render_image
from pipeline.imaging.spec import DEFAULT_SPEC
from pipeline.runtime.settings import LimitsSettings
from tests import images

pytestmark = pytest.mark.unit

DELAYS = [40, 250, 80, 1000, 60]


def animation(fmt: str, width: int = 300, height: int = 200, delays: list[int] = DELAYS) -> bytes:
    pages = [
        images.scene(width, height, seed=i).rot180()
        if i % 2
        else images.scene(width, height, seed=i)
        for i in range(len(delays))
    ]
    strip = pyvips.Image.arrayjoin(pages, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", height)
    strip.set_type(pyvips.GValue.array_int_type, "delay", delays)
    strip.set_type(pyvips.GValue.gint_type, "loop", 3)
    saver = strip.gifsave_buffer if fmt == "gif" else strip.webpsave_buffer
    return bytes(saver())


def by_name(result: RenderResult) -> dict[str, RenderedRendition]:
    return {r.name: r for r in result.renditions}


def frames_of(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "", n=-1)


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_an_animation_keeps_its_frames_delays_and_loop_count(fmt: str) -> None:
    result = render_image(animation(fmt), DEFAULT_SPEC, LimitsSettings())
    out = by_name(result)
    assert list(out) == ["thumb", "preview", "large", "animated"]
    moving = out["animated"]
    assert (moving.content_type, moving.extension) == ("image/webp", "webp")
    assert (moving.width, moving.height) == (300, 200)
    assert moving.spec_hash == animated.spec_hash(LimitsSettings())
    decoded = frames_of(moving.data)
    assert images.sniffed(moving.data) == "image/webp"
    assert decoded.get("n-pages") == 5
    assert decoded.get("page-height") == 200
    assert list(decoded.get("delay")) == DELAYS
    assert decoded.get("loop") == 3
    # The frames are the frames: the second is the scene turned upside down.
    second = decoded.crop(0, 200, 300, 200)
    assert images.bright_corner(second.pngsave_buffer()) == "bottom-right"
    assert result.metadata["animated_frames"] == 5
    assert result.metadata["animated_delays_ms"] == DELAYS
    assert images.size_of(out["thumb"].data) == (256, 200), "the stills stay the first frame"


def test_a_still_gets_no_animation() -> None:
    for still in (
        images.gif_bytes(100, 80),
        images.webp_bytes(100, 80),
        images.jpeg_bytes(100, 80),
    ):
        assert "animated" not in by_name(render_image(still, DEFAULT_SPEC, LimitsSettings()))


RED, BLUE, GREEN, WHITE = (220, 30, 30, 255), (30, 40, 220, 255), (30, 200, 60, 255), (255,) * 4
# What encoders that store only the changes write (APNG optimisers, Pillow, ffmpeg): a
# whole first frame, then sub-rectangles drawn over it or in place of it, some cleared after.
APNG_CASE = [
    images.ApngFrame(0, 0, 120, 80, RED, 100),
    images.ApngFrame(0, 0, 40, 40, BLUE, 200, blend=1),  # over the red; stays
    images.ApngFrame(80, 40, 40, 40, GREEN, 300, dispose=1),  # cleared to transparent after
    images.ApngFrame(55, 35, 10, 10, WHITE, 400),
]


def pixel(frames: pyvips.Image, page: int, x: int, y: int) -> list[float]:
    return list(frames.crop(0, page * frames.get("page-height"), frames.width, 80)(x, y))


def near(got: list[float], want: tuple[int, ...]) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(got, want, strict=True))


def test_apng_with_partial_frames_plays_as_a_browser_composes_it() -> None:
    result = render_image(
        images.apng_of(120, 80, APNG_CASE, plays=2), DEFAULT_SPEC, LimitsSettings()
    )
    out = by_name(result)
    assert result.frames == 4
    assert "animated" in out, "an animated PNG moves like a GIF"
    moving = frames_of(out["animated"].data)
    assert (moving.get("n-pages"), moving.get("page-height"), moving.width) == (4, 80, 120)
    assert list(moving.get("delay")) == [100, 200, 300, 400]
    assert moving.get("loop") == 2
    assert result.metadata["animated_delays_ms"] == [100, 200, 300, 400]
    assert near(pixel(moving, 0, 20, 20), RED)
    assert near(pixel(moving, 1, 20, 20), BLUE), "a sub-rectangle drawn over the first frame"
    assert near(pixel(moving, 1, 100, 60), RED), "the rest of the canvas kept"
    assert near(pixel(moving, 2, 100, 60), GREEN)
    assert near(pixel(moving, 2, 20, 20), BLUE)
    assert pixel(moving, 3, 100, 60)[3] < 10, "disposed to transparent after its frame"
    assert near(pixel(moving, 3, 60, 40), WHITE)
    assert near(pixel(moving, 3, 20, 20), BLUE)
    still = pyvips.Image.new_from_buffer(out["thumb"].data, "")
    assert near(list(still(10, 10))[:3], RED[:3]), "the stills stay the first frame"


def test_apng_whose_default_image_is_not_a_frame_animates_its_frames_only() -> None:
    apng = images.apng_bytes(100, 80, 4, default_is_a_frame=False)
    result = render_image(apng, DEFAULT_SPEC, LimitsSettings())
    assert result.frames == 5, "the header counts the default image too"
    assert "animated" in by_name(result)
    assert result.metadata["animated_frames"] == 4, "the default image is not one of them"


def test_side_frames_and_pixels_are_bounded_by_settings() -> None:
    limits = LimitsSettings(animated_max_side=120, animated_max_frames=3)
    out = by_name(render_image(animation("gif"), DEFAULT_SPEC, limits))["animated"]
    assert (out.width, out.height) == (120, 80)
    decoded = frames_of(out.data)
    assert decoded.get("n-pages") == 3, "the first three frames"
    assert list(decoded.get("delay")) == DELAYS[:3]
    few_pixels = LimitsSettings(animated_max_pixels=5 * 150 * 100)
    out = by_name(render_image(animation("gif"), DEFAULT_SPEC, few_pixels))["animated"]
    assert (out.width, out.height) == (150, 100)
    assert out.spec_hash != animated.spec_hash(LimitsSettings()), "settings change the key"


def test_over_the_byte_limit_it_is_halved_then_left_out_with_a_reason() -> None:
    original = animation("gif")
    whole = by_name(render_image(original, DEFAULT_SPEC, LimitsSettings()))["animated"]
    halved_limit = LimitsSettings(animated_max_bytes=len(whole.data) - 1)
    halved = by_name(render_image(original, DEFAULT_SPEC, halved_limit))["animated"]
    assert (halved.width, halved.height) == (150, 100)
    assert len(halved.data) < len(whole.data)
    tiny = render_image(original, DEFAULT_SPEC, LimitsSettings(animated_max_bytes=1024))
    assert "animated" not in by_name(tiny)
    assert "animated_max_bytes" in str(tiny.metadata["animated_omitted"])


def test_a_gif_whose_first_frame_leaves_gaps_keeps_its_stills_only() -> None:
    data = images.partial_gif_bytes(
        (100, 80), [(20, 20, 50, 40, (255, 0, 0)), (0, 0, 100, 80, (0, 0, 255))]
    )
    result = render_image(data, DEFAULT_SPEC, LimitsSettings())
    assert "animated" not in by_name(result)
    assert "uncovered" in str(result.metadata["animated_omitted"])
