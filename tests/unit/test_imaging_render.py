"""render_image: sizes, formats, orientation, colour, metadata, failures."""

from __future__ import annotations

import time
from functools import cache

import pytest
import pyvips

from pipeline.domain.errors import (
    ConfigurationError,
    RenderTimeout,
    TooManyFrames,
    UndecodableImage,
)
from pipeline.imaging import render as render_module
from pipeline.imaging.icc import is_srgb
from pipeline.imaging.render import check_capabilities, render_image
from pipeline.imaging.spec import DEFAULT_SPEC, RenditionSpec, parse_spec
from pipeline.runtime.settings import LimitsSettings
from tests import images
from tests.images import sniffed

pytestmark = pytest.mark.unit

LIMITS = LimitsSettings()


@cache
def twelve_megapixels() -> bytes:
    return images.jpeg_bytes(4000, 3000, camera=True, gps=True)


def by_name(result: render_module.RenderResult) -> dict[str, render_module.RenderedRendition]:
    return {r.name: r for r in result.renditions}


def test_twelve_megapixel_jpeg_gets_three_renditions() -> None:
    original = twelve_megapixels()
    result = render_image(original, DEFAULT_SPEC, LIMITS)
    assert (result.width, result.height, result.frames) == (4000, 3000, 1)
    out = by_name(result)
    assert list(out) == ["thumb", "preview", "large"]
    expected = {"thumb": (256, 256), "preview": (1280, 960), "large": (2048, 1536)}
    mimes = {"thumb": "image/webp", "preview": "image/webp", "large": "image/jpeg"}
    for name, rendition in out.items():
        assert (rendition.width, rendition.height) == expected[name]
        assert images.size_of(rendition.data) == expected[name]
        assert sniffed(rendition.data) == mimes[name] == rendition.content_type
        assert not images.has_exif(rendition.data), f"{name} kept metadata"
        assert images.bright_corner(rendition.data) == "top-left"
        spec = next(s for s in DEFAULT_SPEC if s.name == name)
        assert (rendition.spec_hash, rendition.extension) == (spec.spec_hash, spec.extension)
        assert rendition.seconds > 0
    assert images.similarity(out["large"].data, original) > 0.98
    assert images.similarity(out["preview"].data, original) > 0.98
    assert result.decode_seconds > 0


def test_small_input_is_never_upscaled() -> None:
    result = render_image(images.jpeg_bytes(300, 200), DEFAULT_SPEC, LIMITS)
    sizes = {r.name: (r.width, r.height) for r in result.renditions}
    assert sizes == {"thumb": (256, 200), "preview": (300, 200), "large": (300, 200)}


def test_upscale_enlarges_when_asked() -> None:
    spec = parse_spec(
        '[{"name": "big", "width": 600, "height": 600, "format": "png", "upscale": true}]'
    )
    (big,) = render_image(images.jpeg_bytes(300, 200), spec, LIMITS).renditions
    assert (big.width, big.height) == (600, 400)


def test_portrait_fits_on_the_long_edge() -> None:
    result = render_image(images.jpeg_bytes(1500, 3000), DEFAULT_SPEC, LIMITS)
    sizes = {r.name: (r.width, r.height) for r in result.renditions}
    assert sizes == {"thumb": (256, 256), "preview": (640, 1280), "large": (1024, 2048)}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_comes_out_upright(orientation: int) -> None:
    original = images.jpeg_bytes(360, 240, orientation=orientation)
    stored = images.size_of(original)
    assert stored == ((240, 360) if orientation >= 5 else (360, 240))
    result = render_image(original, DEFAULT_SPEC, LIMITS)
    assert (result.width, result.height) == (360, 240)
    assert result.metadata["orientation"] == orientation
    for rendition in result.renditions:
        assert images.bright_corner(rendition.data) == "top-left", rendition.name
        assert rendition.width >= rendition.height


@pytest.mark.parametrize("orientation", [None, 3, 6, 8])
def test_heic_is_decoded_through_pi_heif_upright(orientation: int | None) -> None:
    original = images.heic_bytes(360, 240, orientation=orientation)
    if original is None:
        pytest.skip("no HEIC encoder (pillow-heif) installed to make a test HEIC")
    assert sniffed(original) == "image/heic"
    result = render_image(original, DEFAULT_SPEC, LIMITS)
    assert (result.width, result.height) == (360, 240)
    for rendition in result.renditions:
        assert images.bright_corner(rendition.data) == "top-left", rendition.name
        assert images.similarity(rendition.data, images.png_bytes(360, 240)) > 0.5


def _mean_rgb(data: bytes) -> list[float]:
    image = pyvips.Image.new_from_buffer(data, "")
    return [image[i].avg() for i in range(3)]


@pytest.mark.parametrize("profile", [True, False])
def test_cmyk_comes_out_srgb_three_bands(profile: bool) -> None:
    result = render_image(images.cmyk_jpeg_bytes(200, 150, profile=profile), DEFAULT_SPEC, LIMITS)
    for rendition in result.renditions:
        image = pyvips.Image.new_from_buffer(rendition.data, "")
        assert (image.bands, image.interpretation) == (3, "srgb")
        assert images.similarity(rendition.data, images.png_bytes(200, 150)) > 0.95


def test_embedded_icc_profile_is_honoured() -> None:
    # The same scene stored in Display P3: correct colour management brings the pixels back
    # to the sRGB values; ignoring the profile would leave them shifted.
    srgb = [40.0, 200.0, 60.0]
    p3 = images.p3_jpeg_bytes(200, 150, colour=(40, 200, 60))
    raw = _mean_rgb(p3)
    (large,) = [r for r in render_image(p3, DEFAULT_SPEC, LIMITS).renditions if r.name == "large"]
    rendered = _mean_rgb(large.data)
    error = max(abs(a - b) for a, b in zip(rendered, srgb, strict=True))
    raw_error = max(abs(a - b) for a, b in zip(raw, srgb, strict=True))
    assert error < 3
    assert raw_error > 10


def _tagged(profile: str) -> bytes:
    """The test scene as a JPEG carrying libvips' built-in ``profile`` (pixels in that space)."""
    scene = pyvips.Image.new_from_buffer(images.png_bytes(200, 150), "")
    tagged = scene.icc_transform(profile, input_profile="srgb")
    return bytes(tagged.jpegsave_buffer(Q=95, keep="icc"))


def test_srgb_tagged_photo_renders_like_untagged() -> None:
    # An sRGB profile skips the transform (same pixels, less CPU); a P3 one does not.
    srgb, p3 = _tagged("srgb"), _tagged("p3")
    assert is_srgb(pyvips.Image.new_from_buffer(srgb, "").get("icc-profile-data"))
    assert not is_srgb(pyvips.Image.new_from_buffer(p3, "").get("icc-profile-data"))
    plain = pyvips.Image.new_from_buffer(srgb, "").jpegsave_buffer(Q=95, keep="none")
    for tagged in (srgb, p3):
        for a, b in zip(
            render_image(tagged, DEFAULT_SPEC, LIMITS).renditions,
            render_image(plain, DEFAULT_SPEC, LIMITS).renditions,
            strict=True,
        ):
            assert images.similarity(a.data, b.data) > 0.99, a.name
    tagged_large, plain_large = (
        by_name(render_image(data, DEFAULT_SPEC, LIMITS))["large"].data for data in (srgb, plain)
    )
    error = max(
        abs(x - y) for x, y in zip(_mean_rgb(tagged_large), _mean_rgb(plain_large), strict=True)
    )
    assert error < 1


@pytest.mark.parametrize(
    "original",
    [
        images.png_bytes(120, 90, alpha=True),
        images.webp_bytes(120, 90),
        images.tiff_bytes(120, 90),
        images.avif_bytes(120, 90),
    ],
    ids=["png-alpha", "webp", "tiff", "avif"],
)
def test_other_input_types_render(original: bytes) -> None:
    result = render_image(original, DEFAULT_SPEC, LIMITS)
    large = by_name(result)["large"]
    assert (large.width, large.height) == (120, 90)
    assert images.similarity(large.data, original) > 0.95


@pytest.mark.parametrize("kind", ["gif", "webp"])
def test_animation_renders_its_first_frame(kind: str) -> None:
    original = (
        images.gif_bytes(160, 120, 3) if kind == "gif" else images.webp_bytes(160, 120, frames=3)
    )
    result = render_image(original, DEFAULT_SPEC, LIMITS)
    assert result.frames == 3
    large = by_name(result)["large"]
    assert (large.width, large.height) == (160, 120)
    # Frame 1 is upright, frame 2 upside down: the first frame has its block top-left.
    assert images.bright_corner(large.data) == "top-left"


def test_worker_rechecks_frame_limit() -> None:
    with pytest.raises(TooManyFrames):
        render_image(images.gif_bytes(32, 24, 5), DEFAULT_SPEC, LimitsSettings(max_frames=4))


def test_every_output_format_is_sniffable() -> None:
    spec = parse_spec(
        '[{"name": "a", "width": 64, "height": 64, "format": "avif"},'
        ' {"name": "p", "width": 64, "height": 64, "format": "png", "crop": "centre"},'
        ' {"name": "j", "width": 64, "height": 64, "format": "jpeg"},'
        ' {"name": "w", "width": 64, "height": 64, "format": "webp"}]'
    )
    out = by_name(render_image(images.png_bytes(200, 100, alpha=True), spec, LIMITS))
    assert {n: sniffed(r.data) for n, r in out.items()} == {
        "a": "image/avif",
        "p": "image/png",
        "j": "image/jpeg",
        "w": "image/webp",
    }
    assert (out["p"].width, out["p"].height) == (64, 64)
    assert (out["a"].width, out["a"].height) == (64, 32)
    assert not any(images.has_exif(r.data) for r in out.values())


def test_metadata_is_extracted_without_gps_by_default() -> None:
    result = render_image(twelve_megapixels(), DEFAULT_SPEC, LIMITS)
    assert "gps" not in result.metadata
    for key, value in images.CAMERA.items():
        assert result.metadata[key] == value, key


def test_gps_only_when_configured() -> None:
    result = render_image(images.jpeg_bytes(64, 48, gps=True), DEFAULT_SPEC, LIMITS, store_gps=True)
    assert result.metadata["gps"] == pytest.approx(images.GPS, abs=1e-4)
    assert result.metadata["capture_time"] is None


def test_truncated_jpeg_is_undecodable() -> None:
    with pytest.raises(UndecodableImage) as info:
        render_image(images.truncated_jpeg_bytes(800, 600), DEFAULT_SPEC, LIMITS)
    assert "decode" in str(info.value) or "truncated" in str(info.value).lower()
    assert info.value.public_message


def test_garbage_is_undecodable() -> None:
    with pytest.raises(UndecodableImage):
        render_image(images.garbage_after_magic("image/png"), DEFAULT_SPEC, LIMITS)


def test_deadline_in_the_past_times_out() -> None:
    with pytest.raises(RenderTimeout, match="probe"):
        render_image(images.jpeg_bytes(64, 48), DEFAULT_SPEC, LIMITS, deadline=time.monotonic() - 1)


def test_deadline_is_checked_between_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(100))
    monkeypatch.setattr(render_module.time, "monotonic", lambda: float(next(clock)))
    # Steps see the clock tick once per check: the deadline falls after decode.
    with pytest.raises(RenderTimeout, match="orient"):
        render_image(images.jpeg_bytes(64, 48), DEFAULT_SPEC, LIMITS, deadline=1.5)


def test_capabilities_of_this_libvips() -> None:
    check_capabilities(DEFAULT_SPEC)
    check_capabilities(parse_spec('[{"name": "a", "width": 8, "height": 8, "format": "avif"}]'))


def test_capabilities_name_a_missing_saver(monkeypatch: pytest.MonkeyPatch) -> None:
    real = render_module.encode

    def no_avif(image: pyvips.Image, rendition: RenditionSpec) -> bytes:
        if rendition.format == "avif":
            raise pyvips.Error("heifsave_buffer: Unsupported compression")
        return real(image, rendition)

    monkeypatch.setattr(render_module, "encode", no_avif)
    spec = parse_spec('[{"name": "hero", "width": 8, "height": 8, "format": "avif"}]')
    with pytest.raises(ConfigurationError, match="hero: cannot write avif"):
        check_capabilities(spec)
    check_capabilities(DEFAULT_SPEC)
