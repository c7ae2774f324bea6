"""Read the description of an ICC profile, to skip transforming sRGB into sRGB.

libvips' ``thumbnail`` keeps an embedded profile on its output without converting the
pixels, so the colour step transforms every tagged photo to sRGB. Many cameras and editors
tag plain sRGB (the 3144-byte "sRGB IEC61966-2.1" profile): transforming those is ~20 ms of
CPU per 2048 px master for identical pixels.

Format: ICC.1:2010 section 7 (128-byte header, then the tag table: a count and 12-byte
entries of signature, offset, size); the ``desc`` tag is a ``desc`` textDescriptionType
(ICC v2, ICC.1:2001-04 6.5.17: ASCII count, then ASCII) or a ``mluc``
multiLocalizedUnicodeType (ICC v4, ICC.1:2010 10.15: records of UTF-16BE strings).
"""

from __future__ import annotations

import struct

_HEADER = 128


def description(profile: bytes) -> str:
    """The profile's ``desc`` text, or "" when the profile is too short or has none."""
    try:
        (count,) = struct.unpack_from(">I", profile, _HEADER)
        for index in range(min(count, 100)):
            sig, offset, size = struct.unpack_from(">4sII", profile, _HEADER + 4 + 12 * index)
            if sig == b"desc":
                return _text(profile[offset : offset + size])
    except struct.error:
        return ""
    return ""


def _text(tag: bytes) -> str:
    kind = tag[:4]
    if kind == b"desc":
        (length,) = struct.unpack_from(">I", tag, 8)
        return tag[12 : 12 + length].split(b"\0", 1)[0].decode("latin-1")
    if kind == b"mluc":
        count, _record = struct.unpack_from(">II", tag, 8)
        if count:
            _lang, size, offset = struct.unpack_from(">4sII", tag, 16)
            return tag[offset : offset + size].decode("utf-16-be", errors="replace")
    return ""


def is_srgb(profile: bytes) -> bool:
    """True for an RGB profile that says it is sRGB (IEC 61966-2-1 and its common names)."""
    if profile[16:20] != b"RGB ":  # the header's data colour space (ICC.1:2010 7.2.6)
        return False
    return description(profile).lower().replace(" ", "").startswith("srgb")
