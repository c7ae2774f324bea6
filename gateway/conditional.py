"""Entity-tag preconditions (RFC 9110 section 13.1) and byte ranges (section 14).

Small and pure, so every rule of the RFC has a unit test: ``If-None-Match`` uses the
weak comparison (``W/"x"`` matches ``"x"``), takes a list, and ``*`` matches any current
representation (13.1.2); ``If-Range`` uses the strong comparison and a date never
matches, because we send no ``Last-Modified`` (13.1.5); a ``Range`` is one
``bytes=first-last``, ``bytes=first-`` or ``bytes=-suffix`` (14.1.2) whose positions are
ASCII digits (``1*DIGIT``): anything else where a position goes (``²``, ``٣``, thousands of
digits) is a 400 naming ``Range``, by the one number parser of the API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.domain.numbers import parse_number

# entity-tag = [ weak ] opaque-tag ; opaque-tag = DQUOTE *etagc DQUOTE (section 8.8.3).
_ENTITY_TAG = re.compile(r'(W/)?"([^"]*)"')
# One range of the bytes unit; the positions are checked by parse_number (``\d`` would match
# any Unicode decimal digit).
_RANGE = re.compile(r"^\s*bytes\s*=\s*([^-,\s]*)\s*-\s*([^-,\s]*)\s*$", re.IGNORECASE)


def _opaque(tag: str) -> str | None:
    """The opaque part of one entity tag (``W/"x"`` and ``"x"`` give ``x``); None if malformed."""
    match = _ENTITY_TAG.fullmatch(tag.strip())
    return None if match is None else match.group(2)


def none_match(header: str | None, etag: str) -> bool:
    """True when ``If-None-Match`` matches ``etag`` (a GET or HEAD then answers 304).

    ``etag`` is our own tag as sent in ``ETag``; comparison is weak, so the ``W/`` prefix a
    proxy adds on either side does not matter.
    """
    if header is None:
        return False
    if header.strip() == "*":
        return True
    ours = _opaque(etag)
    return any(match.group(2) == ours for match in _ENTITY_TAG.finditer(header))


def if_range_allows(header: str | None, etag: str) -> bool:
    """True when a ``Range`` may be honoured: no ``If-Range``, or a strong match of ``etag``."""
    if header is None:
        return True
    value = header.strip()
    if value.startswith("W/") or etag.startswith("W/"):
        return False  # If-Range needs the strong comparison: a weak tag never matches
    return value == etag


@dataclass(frozen=True)
class ByteRange:
    """``start`` inclusive, ``end`` exclusive, of an object of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end - 1}/{self.size}"


class Unsatisfiable(ValueError):
    """The range starts at or after the end of the object: answer 416."""


def byte_range(header: str | None, size: int) -> ByteRange | None:
    """The part of an object of ``size`` bytes a ``Range`` header asks for.

    None means "send the whole object": no header, or one we do not handle (several
    ranges, another unit, bad syntax), which section 14.2 lets a server ignore. Raises
    :class:`Unsatisfiable` for a range that starts past the end or an empty suffix, and
    :class:`~pipeline.domain.errors.InputError` (400) for a position that is not a number.
    """
    match = _RANGE.match(header) if header else None
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        suffix = parse_number(last, "Range")
        if suffix == 0 or size == 0:
            raise Unsatisfiable(f"bytes=-{suffix} of {size}")
        return ByteRange(max(size - suffix, 0), size, size)
    start = parse_number(first, "Range")
    stop = parse_number(last, "Range") if last else None
    end = size if stop is None else min(stop + 1, size)
    if stop is not None and stop < start:
        return None  # invalid: ignore it
    if start >= size:
        raise Unsatisfiable(f"bytes={start}- of {size}")
    return ByteRange(start, end, size)
