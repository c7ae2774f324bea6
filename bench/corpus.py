"""Deterministic benchmark corpus: N photo-like 12-megapixel JPEGs (4000 x 3000).

Made with the same generator the tests use (``tests.images.jpeg_bytes``: gradient, seeded
noise, shapes, camera EXIF), one seed per image, so every run and every machine benchmarks
the same bytes. Run ``python -m bench.corpus --images 8`` or let ``bench.render`` call it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tests.images import jpeg_bytes

OUT = Path(__file__).parent / "out" / "corpus"
WIDTH, HEIGHT = 4000, 3000


def build(images: int = 8, out: Path = OUT) -> list[Path]:
    """Write (or reuse) ``images`` JPEGs into ``out`` and return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(images):
        path = out / f"photo-{seed:02d}.jpg"
        if not path.exists():
            path.write_bytes(jpeg_bytes(WIDTH, HEIGHT, seed=seed, quality=90, camera=True))
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=8)
    args = parser.parse_args()
    for path in build(args.images):
        print(path, path.stat().st_size)


if __name__ == "__main__":
    main()
