"""The one parser for every number a client sends (query parameters and headers).

HTTP numbers are ASCII digits (RFC 9110 section 5.6.1 ``1*DIGIT``; tus ``Upload-Length`` and
``Upload-Offset``; the ``limit`` of a listing). ``str.isdigit`` and ``int`` accept far more:
``"²".isdigit()`` is true yet ``int("²")`` raises, ``int("٣")`` is 3 (Arabic-Indic digits),
``int(" 7 ")`` and ``int("1_000")`` succeed, and a 5,000-digit string raises (Python's
4,300-digit cap) after quadratic work. Every such input must be a 400 naming the field, so
numbers are matched against ``[0-9]`` and a bounded length before ``int`` ever sees them.
"""

from __future__ import annotations

import re

from pipeline.domain.errors import InputError

# 2^64 - 1 (the largest NATS stream sequence) has 20 digits: no number of ours needs more.
MAX_DIGITS = 20
UINT64_MAX = 2**64 - 1
_ASCII_DIGITS = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}")


def parse_number(raw: str | None, field: str, *, maximum: int = UINT64_MAX) -> int:
    """``raw`` as a non-negative integer, or :class:`InputError` (400) naming ``field``.

    Accepts 1 to :data:`MAX_DIGITS` ASCII digits (leading zeros allowed, no sign, no spaces,
    no underscores) whose value is at most ``maximum``. ``None`` (the field is absent) and
    ``""`` are refused too: callers that allow an absent field check for it first.
    """
    if raw is None or not _ASCII_DIGITS.fullmatch(raw):
        raise InputError(
            f"bad {field}: {raw!r:.40}",
            public_message=f"{field} must be a whole number written with the ASCII digits 0-9 "
            f"(at most {MAX_DIGITS} of them)",
        )
    value = int(raw)
    if value > maximum:
        raise InputError(
            f"{field} {value} > {maximum}", public_message=f"{field} must be at most {maximum}"
        )
    return value
