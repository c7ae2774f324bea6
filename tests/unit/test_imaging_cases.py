"""The third round of reported imaging cases, on the renderer itself (issue 19).

Untagged CMYK crashed a fresh process (libvips/libvips#2713: the fallback profile attached
freed), so it is rendered in fresh interpreters, several times; complete JPEGs without the
EOI marker render, JPEGs really cut short in a scan still do not. Through the gateway and
worker: ``tests/e2e/test_cases.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import pyvips

from pipeline.domain.errors import UndecodableImage
from pipeline.imaging.render import render_image
from pipeline.imaging.scan import ImageHeader, scan_header
from pipeline.imaging.spec import DEFAULT_SPEC
from pipeline.runtime.settings import LimitsSettings
from tests import images

pytestmark = pytest.mark.unit

LIMITS = LimitsSettings()
CASES = Path(__file__).resolve().parents[1] / "data" / "cases"
ROOT = Path(__file__).resolve().parents[2]

# Renders a file in this interpreter and prints, per rendition, the colours a quarter and
# three quarters across (the two halves of the case file).
_RENDER_IN_A_FRESH_PROCESS = """
import json, sys
import pyvips
from pipeline.imaging.render import render_image
from pipeline.imaging.scan import ImageHeader, scan_header
from pipeline.imaging.spec import DEFAULT_SPEC
from pipeline.runtime.settings import LimitsSettings
result = render_image(open(sys.argv[1], "rb").read(), DEFAULT_SPEC, LimitsSettings())
out = {}
for r in result.renditions:
    im = pyvips.Image.new_from_buffer(r.data, "")
    y = im.height // 2
    out[r.name] = [im.getpoint(im.width // 4, y), im.getpoint(3 * im.width // 4, y)]
print(json.dumps(out))
"""


def near(pixel: list[float], expected: tuple[int, int, int], levels: int = 6) -> bool:
    return all(abs(a - b) <= levels for a, b in zip(pixel, expected, strict=True))


def untagged_cmyk_in_fresh_process(path: Path) -> dict[str, list[list[float]]]:
    done = subprocess.run(
        [sys.executable, "-c", _RENDER_IN_A_FRESH_PROCESS, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # -11 was SIGSEGV: libvips read the fallback CMYK profile after freeing it.
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    result: dict[str, list[list[float]]] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("run", range(4))
def test_untagged_cmyk_renders_in_a_fresh_process_with_print_colours(run: int) -> None:
    colours = untagged_cmyk_in_fresh_process(CASES / "c28_cmyk_noprofile.jpg")
    assert set(colours) == {r.name for r in DEFAULT_SPEC}
    for name, (left, right) in colours.items():
        assert near(left, (232, 30, 42)), (run, name, left)  # red ink mix (M + Y)
        assert near(right, (0, 155, 229)), (run, name, right)  # pure cyan


def test_untagged_cmyk_of_another_shape_renders_twice_in_one_process(tmp_path: Path) -> None:
    # A warm process too, and a scene (not the case file): the kind, not the one file.
    data = images.cmyk_jpeg_bytes(640, 480, profile=False)
    for _ in range(2):
        result = render_image(data, DEFAULT_SPEC, LIMITS)
        for rendition in result.renditions:
            image = pyvips.Image.new_from_buffer(rendition.data, "")
            assert (image.bands, image.interpretation) == (3, "srgb")
            assert not image.get_typeof("icc-profile-data")
            if rendition.name != "thumb":  # the thumb is a square crop
                assert images.similarity(rendition.data, images.png_bytes(640, 480)) > 0.95
    path = tmp_path / "cmyk.jpg"
    path.write_bytes(data)
    assert untagged_cmyk_in_fresh_process(path)


def _jpeg(progressive: bool, width: int = 600, height: int = 400) -> bytes:
    data = bytes(images.scene(width, height).jpegsave_buffer(Q=90, interlace=progressive))
    assert data.endswith(b"\xff\xd9")
    return data


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_a_jpeg_without_its_eoi_marker_renders_every_row(progressive: bool) -> None:
    whole = render_image(_jpeg(progressive), DEFAULT_SPEC, LIMITS)
    result = render_image(_jpeg(progressive)[:-2], DEFAULT_SPEC, LIMITS)
    assert (result.width, result.height) == (600, 400)
    for got, expected in zip(result.renditions, whole.renditions, strict=True):
        assert images.similarity(got.data, expected.data) > 0.999, got.name


def test_the_case_file_without_eoi_renders_at_its_size() -> None:
    data = (CASES / "c29_baseline_no_eoi.jpg").read_bytes()
    assert not data.endswith(b"\xff\xd9")
    result = render_image(data, DEFAULT_SPEC, LIMITS)
    assert (result.width, result.height) == (400, 300)


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
@pytest.mark.parametrize("cut", [10, 200, 2000])
def test_a_jpeg_cut_inside_its_last_scan_is_still_undecodable(progressive: bool, cut: int) -> None:
    # libjpeg fills the last rows silently when a scan meets the marker there: the second
    # decode with filler bits is what tells a cut scan from a complete one.
    with pytest.raises(UndecodableImage) as info:
        render_image(_jpeg(progressive)[:-cut], DEFAULT_SPEC, LIMITS)
    assert info.value.public_message == "the image data is corrupt or truncated"


def _with_primary(data: bytes, item: int) -> bytes:
    """The case file with its ``pitm`` naming ``item`` (1: the 640x480 one, 2: the 300x200)."""
    at = data.index(b"pitm") + 8  # type, version and flags, then the 16-bit item id
    return data[:at] + item.to_bytes(2, "big") + data[at + 2 :]


@pytest.mark.parametrize(("item", "size"), [(2, (300, 200)), (1, (640, 480))])
def test_heif_with_two_images_is_the_primary_everywhere(item: int, size: tuple[int, int]) -> None:
    # Whichever item is primary, and so whichever is stored first or is larger, the scanner,
    # the decoder and every rendition agree on the primary's size: never stretched, never
    # enlarged.
    data = _with_primary((CASES / "c30_heic_primary_second.heic").read_bytes(), item)
    assert (scan_header(data, LIMITS).width, scan_header(data, LIMITS).height) == size
    result = render_image(data, DEFAULT_SPEC, LIMITS)
    assert (result.width, result.height) == size
    for rendition in result.renditions:
        spec = next(r for r in DEFAULT_SPEC if r.name == rendition.name)
        assert rendition.width <= min(size[0], spec.width), rendition.name
        assert rendition.height <= min(size[1], spec.height), rendition.name
        if spec.crop == "none":  # a fitted rendition keeps the primary's shape
            ratio = (rendition.width / rendition.height) / (size[0] / size[1])
            assert ratio == pytest.approx(1, abs=0.02), rendition.name


RED, BLUE = (220, 30, 30), (30, 30, 220)


# 640x480 and 1600x1200 are among the screen sizes libnsgif takes for an editor's leftover
# (it decodes only up to the first frame's far corner): the canvas must still be whole.
@pytest.mark.parametrize("canvas", [(100, 80), (1500, 1100), (640, 480), (1600, 1200)])
def test_gif_canvas_a_first_frame_leaves_is_transparent_in_webp_white_in_jpeg(
    canvas: tuple[int, int],
) -> None:
    # The first frame covers the middle only; a later frame covers everything (it must not
    # fill the first frame's gaps: the renditions show the first frame).
    w, h = canvas
    first = (w // 5, h // 4, w // 2, h // 2, RED)
    data = images.partial_gif_bytes(canvas, [first, (0, 0, w, h, BLUE)])
    assert scan_header(data, LIMITS).first_frame == first[:4]
    result = render_image(data, DEFAULT_SPEC, LIMITS)
    for rendition in result.renditions:
        image = pyvips.Image.new_from_buffer(rendition.data, "")
        assert image.width / image.height == pytest.approx(w / h, rel=0.01) or (
            rendition.name == "thumb"
        ), (rendition.name, image.width, image.height)
        corner = image.getpoint(2, 2)
        far = image.getpoint(image.width - 3, image.height - 3)  # beyond the first frame
        inside = image.getpoint(image.width * 2 // 5, image.height // 2)
        if rendition.extension == "webp":
            assert image.hasalpha(), rendition.name
            assert corner[3] == 0, (rendition.name, corner)
            assert far[3] == 0, (rendition.name, far)
            assert near(inside[:3], RED), (rendition.name, inside)
            assert inside[3] == 255, (rendition.name, inside)
        else:
            assert near(corner, (255, 255, 255)), (rendition.name, corner)
            assert near(far, (255, 255, 255)), (rendition.name, far)
            assert near(inside, RED, levels=12), (rendition.name, inside)


def test_a_gif_whose_first_frame_covers_the_canvas_stays_opaque() -> None:
    data = images.partial_gif_bytes((100, 80), [(0, 0, 100, 80, RED), (10, 10, 20, 20, BLUE)])
    assert scan_header(data, LIMITS).first_frame is None
    preview = next(r for r in render_image(data, DEFAULT_SPEC, LIMITS).renditions)
    assert not pyvips.Image.new_from_buffer(preview.data, "").hasalpha()


def test_a_header_that_disagrees_with_the_decoder_fails_instead_of_stretching(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As the scanner did before it read pitm: 640x480 for a file whose primary is 300x200.
    from dataclasses import replace

    from pipeline.imaging import render as render_module

    def wrong_size(data: bytes, limits: LimitsSettings) -> ImageHeader:
        return replace(scan_header(data, limits), width=640, height=480)

    monkeypatch.setattr(render_module, "scan_header", wrong_size)
    data = (CASES / "c30_heic_primary_second.heic").read_bytes()
    with pytest.raises(UndecodableImage) as info:
        render_image(data, DEFAULT_SPEC, LIMITS)
    assert "disagree on its size" in info.value.public_message
