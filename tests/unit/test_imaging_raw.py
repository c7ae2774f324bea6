"""Camera RAW renders from the sensor data (LibRaw), upright, or is refused naming its format."""

from __future__ import annotations

import pytest

from pipeline.domain.errors import ImageTooLarge, UnsupportedMediaType
from pipeline.imaging.render import render_image
from pipeline.imaging.spec import DEFAULT_SPEC
from pipeline.runtime.settings import LimitsSettings
from tests import images
from tests.unit.raw_images import dng_bytes

pytestmark = pytest.mark.unit
LIMITS = LimitsSettings()


@pytest.mark.parametrize("subs_first", [True, False])
def test_dng_renders_at_the_sensor_size_not_the_preview(subs_first: bool) -> None:
    result = render_image(dng_bytes(subs_first=subs_first), DEFAULT_SPEC, LIMITS)
    assert (result.width, result.height) == (640, 480)
    sizes = {r.name: images.size_of(r.data) for r in result.renditions}
    assert sizes["large"] == (640, 480)
    assert result.metadata["raw_format"] == "DNG"


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_dng_orientation_is_applied_once(orientation: int) -> None:
    result = render_image(dng_bytes(orientation=orientation), DEFAULT_SPEC, LIMITS)
    assert (result.width, result.height) == (640, 480)  # upright size
    large = next(r for r in result.renditions if r.name == "large")
    assert images.bright_corner(large.data) == "top-left"
    assert result.metadata["orientation"] == orientation


def test_raw_pixel_limit_is_checked_on_the_sensor_size() -> None:
    with pytest.raises(ImageTooLarge, match="640x480"):
        render_image(dng_bytes(), DEFAULT_SPEC, LimitsSettings(max_pixels=640 * 480 - 1))


def test_raw_that_libraw_cannot_read_is_refused_naming_the_format() -> None:
    # An Olympus ORF header with an IFD and no sensor data LibRaw recognises.
    ifd = (2).to_bytes(2, "little")
    for tag, value in ((256, 640), (257, 480)):
        ifd += tag.to_bytes(2, "little") + b"\x04\x00\x01\x00\x00\x00" + value.to_bytes(4, "little")
    data = b"IIRO\x08\x00\x00\x00" + ifd + b"\0" * 4 + b"\x55" * 4096
    with pytest.raises(UnsupportedMediaType, match="ORF") as info:
        render_image(data, DEFAULT_SPEC, LIMITS)
    assert info.value.http_status == 415
    assert "ORF" in info.value.public_message
