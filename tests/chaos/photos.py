"""Small photos for the fault tests: many distinct ones fast, and ones that crash a render."""

from __future__ import annotations

import struct

from tests.images import jpeg_bytes


def photos(count: int, *, start: int = 0, size: tuple[int, int] = (160, 120)) -> list[bytes]:
    """``count`` distinct small JPEGs (distinct content, so no two are duplicates)."""
    return [jpeg_bytes(*size, seed=start + i) for i in range(count)]


def with_comment(jpeg: bytes, text: bytes) -> bytes:
    """``jpeg`` with COM segments right after SOI (a valid JPEG that carries ``text``)."""
    most = 65_533  # a segment's length field counts itself: 2 + at most 65,533 bytes
    parts = [text[i : i + most] for i in range(0, len(text), most)] or [b""]
    segments = b"".join(b"\xff\xfe" + struct.pack(">H", len(p) + 2) + p for p in parts)
    return jpeg[:2] + segments + jpeg[2:]


def crashing(marker: str, seed: int) -> bytes:
    """A photo whose render the crash hook kills (``CHAOS-KILL-RENDER`` / ``-WORKER``)."""
    return with_comment(jpeg_bytes(160, 120, seed=seed), marker.encode())
