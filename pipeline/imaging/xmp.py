"""The words people give their photos: XMP and IPTC title, description, keywords, rating.

Read with pyexiv2 (exiv2's maintained parsers: XMP is RDF/XML, IPTC a record format, and
both come in several dialects that Lightroom, digiKam and phones write differently), inside
the render process like every other parser of the original's bytes. Whatever cannot be read
is left out, never an error: the photo renders the same without its words. XMP wins over
IPTC where both say something (XMP is what current tools write; IPTC-IIM is the legacy).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import pyexiv2

from pipeline.domain.text import without_controls

log = logging.getLogger(__name__)

#: Kept per text field (a title or description longer than this is cut): what is stored
#: in the catalog and shown in pages, not a novel in a comment field.
MAX_TEXT = 2000
#: Keywords kept (in the order written), each at most MAX_KEYWORD characters.
MAX_KEYWORDS = 100
MAX_KEYWORD = 100

# exiv2 writes its warnings about odd metadata to stderr: 4 is "mute" (pyexiv2 docs).
pyexiv2.set_log_level(4)


def describe(data: bytes) -> dict[str, object]:
    """``title``, ``description`` (str), ``keywords`` (list of str) and ``rating`` (int
    -1..5, XMP's: -1 rejected, 0 unrated) of the image ``data``, those it states."""
    try:
        with pyexiv2.ImageData(data) as image:
            xmp = _read(image.read_xmp)
            iptc = _read(image.read_iptc)
    except Exception as exc:
        log.debug("no XMP/IPTC read: %s", exc)
        return {}
    out: dict[str, object] = {}
    title = _text(xmp.get("Xmp.dc.title")) or _text(iptc.get("Iptc.Application2.ObjectName"))
    description = _text(xmp.get("Xmp.dc.description")) or _text(
        iptc.get("Iptc.Application2.Caption")
    )
    keywords = _keywords([xmp.get("Xmp.dc.subject"), iptc.get("Iptc.Application2.Keywords")])
    rating = _rating(xmp.get("Xmp.xmp.Rating"))
    if title:
        out["title"] = title
    if description:
        out["description"] = description
    if keywords:
        out["keywords"] = keywords
    if rating is not None:
        out["rating"] = rating
    return out


def _read(reader: Any) -> dict[str, Any]:
    """One block (XMP or IPTC): a text that is not UTF-8 is read as Latin-1 (IPTC-IIM
    written before UTF-8 was its norm) rather than lost."""
    for encoding in ("utf-8", "latin-1"):
        try:
            found = reader(encoding=encoding)
        except (UnicodeDecodeError, ValueError):
            continue
        return found if isinstance(found, dict) else {}
    return {}


def _text(value: object) -> str:
    """A text value: a plain string, or a language alternative (``{'lang="x-default"':
    ...}``, the default language first); cleaned of control characters."""
    if isinstance(value, Mapping):
        alternatives = sorted(value.items(), key=lambda kv: "x-default" not in str(kv[0]))
        value = next((v for _, v in alternatives if isinstance(v, str) and v.strip()), "")
    if isinstance(value, list):
        value = " ".join(v for v in value if isinstance(v, str))
    if not isinstance(value, str):
        return ""
    return without_controls(value).strip()[:MAX_TEXT]


def _keywords(sources: Iterable[object]) -> list[str]:
    found: list[str] = []
    for source in sources:
        values = [source] if isinstance(source, str) else source
        if not isinstance(values, list):
            continue
        for value in values:
            word = _text(value)[:MAX_KEYWORD] if isinstance(value, str) else ""
            if word and word.casefold() not in (k.casefold() for k in found):
                found.append(word)
    return found[:MAX_KEYWORDS]


def _rating(value: object) -> int | None:
    try:
        rating = round(float(str(value)))
    except (ValueError, OverflowError):  # not a number, NaN, infinity
        return None
    return rating if -1 <= rating <= 5 else None
