"""The photos a throughput run uploads: the generated corpus, a folder, or real wallpapers.

* ``generated`` - :mod:`bench.corpus`: deterministic 12 MP JPEGs (4000 x 3000, q90, EXIF).
* ``wallpapers`` - the photographs of Debian's ``plasma-workspace-wallpapers`` package (KDE's
  wallpapers: 24 JPEGs from 0.8 to 14.7 MP), fetched once with ``apt-get download`` and
  unpacked with ``dpkg -x`` into ``~/.cache/gallery-pipeline/wallpapers``.
* any folder given with ``--photos``.

Every upload must be a *distinct* photo: the gateway answers the same bytes twice as a
duplicate without rendering. When a run asks for more photos than the corpus has, the later
copies get a JPEG comment segment (COM, ITU T.81 B.2.4.5) right after SOI, or a PNG ``tEXt``
chunk after IHDR (PNG spec 11.3.4.3), holding a counter: different bytes, same pixels.
"""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

from bench.corpus import build

CACHE = Path.home() / ".cache" / "gallery-pipeline"
WALLPAPERS = CACHE / "wallpapers"
PACKAGE = "plasma-workspace-wallpapers"
SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".heic", ".avif", ".gif"}


def wallpapers() -> list[Path]:
    """The package's photographs (the JPEGs under ``contents/images*``), fetched on first use."""
    root = WALLPAPERS / "x" / "usr" / "share" / "wallpapers"
    if not root.exists():
        WALLPAPERS.mkdir(parents=True, exist_ok=True)
        debs = list(WALLPAPERS.glob(f"{PACKAGE}_*.deb"))
        if not debs:
            subprocess.run(["apt-get", "download", PACKAGE], cwd=WALLPAPERS, check=True)
            debs = list(WALLPAPERS.glob(f"{PACKAGE}_*.deb"))
        subprocess.run(["dpkg", "-x", str(debs[0]), str(WALLPAPERS / "x")], check=True)
    # The PNGs in the package are rendered artwork, not photographs; screenshots are previews.
    # Several sizes of one wallpaper are symlinks to the same file: keep each file once.
    return sorted(p for p in root.glob("*/contents/images*/*.jpg") if not p.is_symlink())


def folder(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def pick(corpus: str, count: int, photos: Path | None = None) -> list[Path]:
    """The source files of a run (``count`` of them for the generated corpus)."""
    if photos is not None:
        return folder(photos)
    if corpus == "wallpapers":
        return wallpapers()
    return build(count)


def distinct(data: bytes, copy: int) -> bytes:
    """``data`` unchanged for copy 0, else the same image with a marker that makes it unique."""
    if copy == 0:
        return data
    marker = f"gallery-bench copy {copy}".encode()
    if data[:2] == b"\xff\xd8":
        return data[:2] + b"\xff\xfe" + struct.pack(">H", len(marker) + 2) + marker + data[2:]
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        body = b"Comment\0" + marker
        chunk = struct.pack(">I", len(body)) + b"tEXt" + body
        chunk += struct.pack(">I", zlib.crc32(b"tEXt" + body))
        end_of_ihdr = 8 + 8 + 13 + 4
        return data[:end_of_ihdr] + chunk + data[end_of_ihdr:]
    raise ValueError("only JPEG and PNG copies can be made distinct")


def photos(sources: list[Path], count: int, *, offset: int = 0) -> list[tuple[str, bytes]]:
    """``count`` distinct uploads cycling over ``sources``: (``"<source path>#<copy>"``, bytes).

    ``offset`` shifts the copy numbers, so the idle-latency photos differ from the load's.
    """
    raw = [p.read_bytes() for p in sources]
    out = []
    for index in range(count):
        copy = index // len(raw) + offset
        source = index % len(raw)
        out.append((f"{sources[source]}#{copy}", distinct(raw[source], copy)))
    return out
