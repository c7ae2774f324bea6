"""What a tenant stores, as ``GET /v1/usage`` reports it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StoredFigures:
    """Photos and their bytes (originals, renditions), in or out of the trash."""

    photos: int = 0
    original_bytes: int = 0
    rendition_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.original_bytes + self.rendition_bytes


@dataclass(frozen=True)
class Usage:
    """The gallery (out of the trash), the trash, and the limits that apply (0 = none).
    The quota counts both: a photo in the trash is still stored."""

    gallery: StoredFigures
    trash: StoredFigures
    max_images: int
    max_bytes: int
    uploads_per_minute: int
