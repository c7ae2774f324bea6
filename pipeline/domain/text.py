"""Text from outside (file names, EXIF strings, request paths) made safe to store or print.

Control characters (Unicode category Cc: C0, DEL, C1), format characters (Cf: bidi overrides
such as U+202E, zero-width joiners) and line or paragraph separators (Zl, Zp) can forge a
log line, drive a terminal (ESC sequences, OSC-8 links, a title change) or make a name read
backwards. :func:`without_controls` drops them (stored values); :func:`printable` shows each
as an escape (``\\x1b``, ``\\u202e``) so what is printed says what was there.
"""

from __future__ import annotations

import unicodedata

_UNSAFE = {"Cc", "Cf", "Zl", "Zp"}


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in _UNSAFE


def without_controls(value: str) -> str:
    """``value`` with every control, format and separator character removed (a tab becomes
    a space: EXIF writers use it as one)."""
    return "".join(" " if c == "\t" else c for c in value if c == "\t" or not _unsafe(c))


def printable(value: str) -> str:
    """``value`` with every control, format and separator character shown as an escape."""
    if not any(_unsafe(c) for c in value):
        return value
    return "".join(_escape(c) if _unsafe(c) else c for c in value)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
