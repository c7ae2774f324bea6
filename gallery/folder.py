"""What ``gallery upload PATH...`` sends: the photos among the files and folders named.

Files named directly are sent as they are (the gateway says why one is refused). Below a
named folder, every file is sniffed by its first bytes, with the same sniffer as the
gateway's gate (never by its name): photos are sent; sidecars (XMP, AAE, Takeout JSON) are
matched to their photo and read (gallery/sidecars.py); anything else (videos, documents,
``.desktop`` files) is skipped with the reason. Hidden files and folders (a leading dot)
are skipped without a row; links are followed once (a folder reached again through a link
loop, or a file seen twice, is not walked or sent twice); a broken link is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gallery import sidecars
from pipeline.imaging.scan.sniff import SNIFF_BYTES, sniff

_VIDEO_BRANDS = (b"qt  ", b"isom", b"mp41", b"mp42", b"M4V ", b"3gp4", b"3gp5", b"avc1")
_VIDEO_SUFFIXES = frozenset({".mov", ".mp4", ".m4v", ".avi", ".mkv", ".webm", ".mts", ".3gp"})


@dataclass(frozen=True)
class Skipped:
    """A file not sent, and why; a sidecar names its photo and what it holds."""

    path: Path
    reason: str
    sidecar_of: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Collection:
    photos: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    hidden: int = 0  # hidden files and folders left out (not listed)


def collect(paths: Iterable[Path]) -> Collection:
    """Raises FileNotFoundError for a named path that does not exist."""
    found = Collection()
    seen: set[tuple[int, int]] = set()
    for path in paths:
        if path.is_dir():
            _walk(path, found, seen)
        elif path.is_file():
            if _first_time(path, seen):
                found.photos.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return found


def _first_time(path: Path, seen: set[tuple[int, int]]) -> bool:
    stat = path.stat()
    key = (stat.st_dev, stat.st_ino)
    if key in seen:
        return False
    seen.add(key)
    return True


def _walk(top: Path, found: Collection, seen: set[tuple[int, int]]) -> None:
    folders: set[tuple[int, int]] = set()
    for root, dirs, files in os.walk(top, followlinks=True):
        stat = os.stat(root)
        if (stat.st_dev, stat.st_ino) in folders:
            dirs[:] = []  # reached again through a link: a loop, or a second way in
            continue
        folders.add((stat.st_dev, stat.st_ino))
        found.hidden += sum(1 for d in dirs if d.startswith(".")) + sum(
            1 for f in files if f.startswith(".")
        )
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        _sort_folder(Path(root), sorted(f for f in files if not f.startswith(".")), found, seen)


def _sort_folder(
    folder: Path, names: list[str], found: Collection, seen: set[tuple[int, int]]
) -> None:
    photos: dict[str, Path] = {}
    others: list[Path] = []
    for name in names:
        path = folder / name
        if not path.exists():
            found.skipped.append(Skipped(path, "broken link"))
            continue
        if not path.is_file() or not _first_time(path, seen):
            continue
        head = _head(path)
        if head is not None and sniff(head) is not None:
            photos[name.lower()] = path
            found.photos.append(path)
        else:
            others.append(path)
    for path in others:
        found.skipped.append(_skipped(path, photos))


def _skipped(path: Path, photos: dict[str, Path]) -> Skipped:
    if sidecars.is_candidate(path):
        kind, metadata = sidecars.read(path)
        photo = sidecars.owner(path, photos) if kind != "unknown" else None
        if photo is not None:
            return Skipped(path, f"{kind} sidecar of {photo.name}", photo, metadata)
    head = _head(path) or b""
    if path.suffix.lower() in _VIDEO_SUFFIXES or head[8:12] in _VIDEO_BRANDS:
        return Skipped(path, "a video in a container this gallery does not read")
    return Skipped(path, "not a photo")


def _head(path: Path) -> bytes | None:
    try:
        with path.open("rb") as file:
            return file.read(SNIFF_BYTES)
    except OSError:
        return None
