"""Our ThumbHash encoder against the reference: the npm ``thumbhash`` package (evanw).

The same RGBA pixels go to both encoders and the whole hashes must be equal, byte for byte.
The package is installed by ``scripts/npm.sh`` (``make tools``) into a cache outside the
checkout; Node runs it.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest
import pyvips

from pipeline.imaging.render import PLACEHOLDER_SIDE
from pipeline.imaging.thumbhash import rgba_to_thumbhash
from tests import images

pytestmark = pytest.mark.unit
NPM_CACHE = Path(os.environ.get("GALLERY_NPM_CACHE", Path.home() / ".cache/gallery-pipeline/npm"))
REFERENCE = NPM_CACHE / "node_modules/thumbhash/thumbhash.js"
# Reads [{w, h, rgba (base64)}] on stdin, prints the reference hashes (base64) as JSON.
NODE_SCRIPT = """
import { rgbaToThumbHash } from %s;
let input = "";
for await (const chunk of process.stdin) input += chunk;
const hashes = JSON.parse(input).map(({ w, h, rgba }) =>
  Buffer.from(rgbaToThumbHash(w, h, Buffer.from(rgba, "base64"))).toString("base64"));
process.stdout.write(JSON.stringify(hashes));
"""


def rgba_of(data: bytes, side: int = PLACEHOLDER_SIDE) -> tuple[int, int, bytes]:
    """The pixels the render pipeline hashes: a ``side``-box thumbnail with an alpha band."""
    small = pyvips.Image.thumbnail_buffer(data, side, height=side).colourspace("srgb")
    if not small.hasalpha():
        small = small.bandjoin(255)
    return small.width, small.height, bytes(small.write_to_memory())


def noise(w: int, h: int, seed: int) -> tuple[int, int, bytes]:
    """Random pixels, random alpha: every AC term lands somewhere new."""
    return w, h, random.Random(seed).randbytes(w * h * 4)


def reference_hashes(samples: list[tuple[int, int, bytes]]) -> list[bytes]:
    node = shutil.which("node")
    assert node is not None, "node is missing: the reference test needs Node.js 18+"
    assert REFERENCE.exists(), f"{REFERENCE} missing: run scripts/npm.sh (make tools)"
    payload = [{"w": w, "h": h, "rgba": base64.b64encode(rgba).decode()} for w, h, rgba in samples]
    done = subprocess.run(
        [node, "--input-type=module", "-e", NODE_SCRIPT % json.dumps(REFERENCE.as_uri())],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [base64.b64decode(h) for h in json.loads(done.stdout)]


def test_whole_hashes_equal_the_reference_encoder() -> None:
    samples = [
        rgba_of(images.jpeg_bytes(400, 300, seed=1)),
        rgba_of(images.jpeg_bytes(300, 400, seed=2)),
        rgba_of(images.jpeg_bytes(1000, 250, seed=3)),
        rgba_of(images.png_bytes(200, 100, alpha=True)),
        rgba_of(images.png_bytes(100, 100, seed=4), side=100),
        (4, 4, bytes([255, 0, 0, 255] * 16)),
        (3, 7, bytes(range(84))),
        *(noise(w, h, seed) for seed, (w, h) in enumerate([(100, 100), (17, 31), (1, 1), (64, 9)])),
    ]
    ours = [rgba_to_thumbhash(w, h, rgba) for w, h, rgba in samples]
    assert ours == reference_hashes(samples)
