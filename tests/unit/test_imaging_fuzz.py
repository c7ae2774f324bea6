"""Mangled files never crash the header scanner or the renderer: every outcome is an InputError.

A bounded, seeded mutation fuzz (bit flips, truncations, spliced garbage) over one valid file
of each type. Whatever a client sends, the gateway answers 4xx and the worker fails the image
with a reason; neither sees an exception outside the error tree.
"""

from __future__ import annotations

import random

import pytest

from pipeline.domain.errors import InputError
from pipeline.imaging.render import render_image
from pipeline.imaging.scan import scan_header
from pipeline.imaging.spec import DEFAULT_SPEC
from pipeline.runtime.settings import LimitsSettings
from tests.images import gif_bytes, jpeg_bytes, png_bytes, tiff_bytes, webp_bytes

pytestmark = pytest.mark.unit
CASES_PER_TYPE = 120
LIMITS = LimitsSettings(max_pixels=4_000_000, render_timeout_seconds=10)
SOURCES = {
    "jpeg": lambda: jpeg_bytes(320, 240, orientation=6, camera=True),
    "png": lambda: png_bytes(200, 150),
    "gif": lambda: gif_bytes(64, 48, frames=3),
    "webp": lambda: webp_bytes(160, 120),
    "tiff": lambda: tiff_bytes(120, 90),
}


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    match rng.randrange(4):
        case 0:  # flip bytes, biased to the header where parsers make decisions
            for _ in range(rng.randint(1, 8)):
                pos = rng.randrange(min(len(buf), 512))
                buf[pos] = rng.randrange(256)
        case 1:  # truncate anywhere
            del buf[rng.randrange(1, len(buf)) :]
        case 2:  # splice random bytes in
            pos = rng.randrange(len(buf))
            buf[pos:pos] = rng.randbytes(rng.randint(1, 64))
        case _:  # huge dimensions or counts: set 4 bytes to 0xff
            pos = rng.randrange(min(len(buf) - 4, 256))
            buf[pos : pos + 4] = b"\xff\xff\xff\xff"
    return bytes(buf)


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_mangled_files_give_clear_errors_or_images(kind: str) -> None:
    rng = random.Random(f"fuzz-{kind}")
    original = SOURCES[kind]()
    outcomes: dict[str, int] = {}
    reasons: list[str] = []
    for _ in range(CASES_PER_TYPE):
        data = mutate(original, rng)
        try:
            scan_header(data, LIMITS)
            result = render_image(data, DEFAULT_SPEC, LIMITS)
        except InputError as exc:
            outcomes[exc.code] = outcomes.get(exc.code, 0) + 1
            reasons.append(exc.public_message)
            continue
        outcomes["rendered"] = outcomes.get("rendered", 0) + 1
        # Every rendition of the spec; a mangled GIF may still animate (its own rendition).
        extra = {r.name for r in result.renditions} - {s.name for s in DEFAULT_SPEC}
        assert len(result.renditions) == len(DEFAULT_SPEC) + len(extra)
        assert extra <= {"animated"}, extra
    assert sum(outcomes.values()) == CASES_PER_TYPE
    assert set(outcomes) - {"rendered"}, f"the fuzz never hit an error path: {outcomes}"
    assert all(reasons), "every refusal says why"
