"""ThumbHash placeholders."""

from __future__ import annotations

import base64

import pytest

from pipeline.imaging.render import render_image
from pipeline.imaging.spec import DEFAULT_SPEC
from pipeline.imaging.thumbhash import describe, rgba_to_thumbhash
from pipeline.runtime.settings import LimitsSettings
from tests import images

pytestmark = pytest.mark.unit


def test_thumbhash_is_deterministic_and_small() -> None:
    original = images.jpeg_bytes(400, 300)
    first = render_image(original, DEFAULT_SPEC, LimitsSettings()).thumbhash
    second = render_image(original, DEFAULT_SPEC, LimitsSettings()).thumbhash
    assert first == second
    raw = base64.b64decode(first)
    assert 5 < len(raw) <= 25


@pytest.mark.parametrize(("w", "h"), [(400, 300), (300, 400), (300, 300), (1000, 250)])
def test_thumbhash_decodes_to_a_plausible_size(w: int, h: int) -> None:
    thumbhash = render_image(images.jpeg_bytes(w, h), DEFAULT_SPEC, LimitsSettings()).thumbhash
    info = describe(base64.b64decode(thumbhash))
    assert max(info.width, info.height) == 32
    assert info.aspect_ratio == pytest.approx(w / h, rel=0.35)
    assert not info.has_alpha


def test_thumbhash_of_an_image_with_alpha() -> None:
    result = render_image(images.png_bytes(200, 100, alpha=True), DEFAULT_SPEC, LimitsSettings())
    assert describe(base64.b64decode(result.thumbhash)).has_alpha


def test_flat_colour_matches_the_reference_encoder() -> None:
    # A flat opaque image has no AC energy: only the DC terms and the header are set.
    # Reference (evanw/thumbhash JS) for 4x4 of rgb(255, 0, 0): l_dc = 1/3, p_dc = 0.5, q_dc = 1.
    rgba = bytes([255, 0, 0, 255] * 16)
    out = rgba_to_thumbhash(4, 4, rgba)
    header24 = out[0] | out[1] << 8 | out[2] << 16
    assert header24 & 63 == 21  # round(63 / 3)
    assert (header24 >> 6) & 63 == 47  # round(31.5 + 31.5 * 0.5)
    assert (header24 >> 12) & 63 == 63  # round(31.5 + 31.5 * 1.0)
    assert out == rgba_to_thumbhash(4, 4, rgba)


def test_thumbhash_refuses_large_input() -> None:
    with pytest.raises(ValueError, match="100x100"):
        rgba_to_thumbhash(101, 10, bytes(101 * 10 * 4))
