"""Motion photos: the short video a phone keeps inside a still, as the ``motion`` rendition.

Two layouts put an MP4 after the image's own bytes in the same file:

* Google's Motion Photo (Pixel and the phones that follow it): the image's XMP says where the
  video is, either ``GCamera:MicroVideoOffset`` (older: bytes from the end of the file) or a
  ``Container:Directory`` whose ``MotionPhoto`` item gives its ``Item:Length`` (the video is
  the file's last item).
* Samsung's trailer: the marker ``MotionPhoto_Data`` followed by the MP4, then Samsung's own
  ``SEFH``...``SEFT`` index.

:func:`find_embedded` finds the MP4 and bounds it by its own top-level boxes (so a trailer
after it is not taken for video); the caller renders it like an uploaded clip. A motion part
that is missing, broken or over the limits never costs the photo: the still renders and the
metadata's ``motion_error`` says why its motion did not.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Literal

from pipeline.domain.models import MOTION

NAME = MOTION  # the rendition's name

# XMP sits in the file's first segments (JPEG APP1, a HEIF item near the front).
_XMP_WINDOW = 1024 * 1024
_XMP = re.compile(rb"<x:xmpmeta.*?</x:xmpmeta>", re.DOTALL)
# Attribute or element form: GCamera:MicroVideoOffset="123" or <...>123</...>.
_MICRO_OFFSET = re.compile(rb"GCamera:MicroVideoOffset(?:=\"|>)\s*(\d+)")
_ITEM = re.compile(rb"<Container:Item\b[^>]*>|<rdf:li\b[^>]*>", re.DOTALL)
_SEMANTIC = re.compile(rb"Item:Semantic=\"([A-Za-z]+)\"")
_LENGTH = re.compile(rb"Item:Length=\"(\d+)\"")
_SAMSUNG = b"MotionPhoto_Data"
_BOX_TYPE = re.compile(rb"[a-zA-Z0-9 ]{4}")  # ISO BMFF box types are four printable chars

Source = Literal["google", "samsung"]


@dataclass(frozen=True)
class Embedded:
    """Where the video is in the file: ``length`` bytes from ``offset``, written by ``source``."""

    offset: int
    length: int
    source: Source


def find_embedded(data: bytes) -> Embedded | None:
    """The MP4 embedded in the photo ``data`` (Google XMP, else Samsung's trailer), or
    ``None`` when the file claims none. A claim that points at no MP4 (a wrong offset, a
    video cut short) is :class:`BrokenMotion`: the caller notes it, the photo still renders."""
    claimed = _google_offset(data)
    if claimed is not None:
        return _bounded(data, claimed, "google")
    marker = data.rfind(_SAMSUNG)
    if marker >= 0:
        return _bounded(data, marker + len(_SAMSUNG), "samsung")
    return None


class BrokenMotion(ValueError):
    """The photo says it carries a video but none is where it says."""


def _google_offset(data: bytes) -> int | None:
    """The video's start by the XMP, or None when the XMP claims no video."""
    xmp = _XMP.search(data, 0, _XMP_WINDOW)
    if xmp is None:
        return None
    packet = xmp.group(0)
    if (micro := _MICRO_OFFSET.search(packet)) is not None:
        return len(data) - int(micro.group(1))
    for item in _ITEM.finditer(packet):
        semantic = _SEMANTIC.search(item.group(0))
        length = _LENGTH.search(item.group(0))
        if semantic and semantic.group(1) == b"MotionPhoto" and length:
            return len(data) - int(length.group(1))
    return None


def _bounded(data: bytes, offset: int, source: Source) -> Embedded:
    """The MP4 from ``offset`` to the end of its last whole top-level box."""
    if not 0 < offset < len(data) - 8 or data[offset + 4 : offset + 8] != b"ftyp":
        raise BrokenMotion(f"{source} motion photo: no MP4 at byte {offset}")
    end, boxes = offset, set()
    while end + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, end)
        if size == 1 and end + 16 <= len(data):
            (size,) = struct.unpack_from(">Q", data, end + 8)
        if size < 8 or end + size > len(data) or not _BOX_TYPE.fullmatch(kind):
            break
        boxes.add(kind)
        end += size
    if not {b"moov", b"mdat"} <= boxes:
        raise BrokenMotion(f"{source} motion photo: the MP4 is cut short (no moov or mdat)")
    return Embedded(offset, end - offset, source)
