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
