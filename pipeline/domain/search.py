"""What the catalog stores so that the timeline and the search are index reads.

Two fields are derived from an image document and written beside it:

- ``taken_at``: when the photo was taken for the timeline: the capture time's wall clock
  (what the camera showed; the offset, when recorded, is not applied: a photo taken at 23:30
  in Tokyo belongs to that evening) or, for a photo without one, the upload time in UTC.
- ``taken_key``: one integer that sorts the timeline: the day of ``taken_at`` (since 1900),
  times :data:`SEQ_SPAN`, plus the image's ``seq``: by day, and within a day in upload
  order (the order an import sent them). Unique per tenant (``seq`` is), so
  ``taken_key < cursor`` pages with no duplicate and no skip whatever is inserted or deleted
  between pages; a single field, so the catalog reads it as one index range (SecantusDB
  scans on ``$or``, which a (time, seq) pair would need); dense within a day (a day's photos
  are mostly uploaded together), so a day is read in slices like the upload listing. Exact
  times (``taken_after``) are checked on ``taken_at``.
- ``terms``: the normalized words of the file name, title, description and keywords, each
  with its prefixes from :data:`MIN_PREFIX` characters (a prefix search is an equality on a
  multikey index), plus ``camera:``, ``lens:`` and ``kind:`` facet terms for the filters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

#: ``taken_key`` = days since :data:`EPOCH` * SEQ_SPAN + seq: room for 10**8 photos per
#: tenant; 1900-2199 stays below 1.1 * 10**13 (14 decimal digits as a cursor).
SEQ_SPAN = 10**8
EPOCH = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC)
#: The largest key plus one: the first page of a timeline reads below it.
KEY_END = ((LATEST - EPOCH).days + 1) * SEQ_SPAN
#: Prefixes shorter than this are not indexed (a one-letter search would match everything).
MIN_PREFIX = 2
#: A longer word is indexed by its first MAX_WORD characters (a hash or a URL is no word).
MAX_WORD = 32
#: Words past this many (a long description) are not indexed: each costs an index entry per
#: prefix, and the catalog caps a document at 16 MiB.
MAX_WORDS = 200
_WORD = re.compile(r"\w+")

Kind = Literal["photo", "video"]
#: A listing's order: ``upload`` (newest completed upload first) or ``taken`` (the timeline).
Order = Literal["upload", "taken"]
TakenSource = Literal["capture", "upload"]


def words(text: str) -> list[str]:
    """The search words of ``text``: case-folded, accents removed, split at anything that is
    not a letter or digit (``_`` too: ``IMG_0042`` is ``img`` and ``0042``)."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return [w[:MAX_WORD] for part in _WORD.findall(plain) for w in part.split("_") if w]


def _prefixes(word: str) -> Iterable[str]:
    yield word
    yield from (word[:n] for n in range(MIN_PREFIX, len(word)))


def _facet(name: str, value: object) -> list[str]:
    return [f"{name}:{w}" for w in words(value)] if isinstance(value, str) else []


def terms_of(filename: str | None, metadata: Mapping[str, Any], kind: str) -> list[str]:
    """The ``terms`` of an image: the words (and prefixes) of its file name, title,
    description and keywords, and its ``camera:``/``lens:``/``kind:`` facets; sorted,
    no repeats."""
    texts = [filename or "", *(metadata.get(k) for k in ("title", "description"))]
    keywords = metadata.get("keywords")
    if isinstance(keywords, list):
        texts += keywords
    found: list[str] = []
    for text in texts:
        if isinstance(text, str):
            found += [w for w in words(text) if w not in found]
    out = {p for w in found[:MAX_WORDS] for p in _prefixes(w)}
    camera = " ".join(str(metadata.get(k) or "") for k in ("camera_make", "camera_model"))
    facets = [*_facet("camera", camera), *_facet("lens", metadata.get("lens"))]
    out.update(p for f in facets for p in _prefixes(f))
    out.add(f"kind:{kind}")
    return sorted(out)


def capture_time(metadata: Mapping[str, Any]) -> datetime | None:
    """The wall-clock capture time the camera recorded (naive, as UTC), or None when there
    is none or it is not a date (an EXIF of zeros, a year out of 1900-2199)."""
    raw = metadata.get("capture_time")
    if not isinstance(raw, str):
        return None
    try:
        when = datetime.fromisoformat(raw[:19])
    except ValueError:
        return None
    when = when.replace(tzinfo=UTC)
    return when if EPOCH <= when <= LATEST else None


def taken(metadata: Mapping[str, Any], uploaded: datetime) -> tuple[datetime, TakenSource]:
    """When the photo was taken for the timeline, and whether that is its ``capture`` time
    or, lacking one, its ``upload`` time."""
    captured = capture_time(metadata)
    return (captured, "capture") if captured is not None else (uploaded, "upload")


def _clamped(when: datetime) -> datetime:
    aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return min(max(aware, EPOCH), LATEST)


def time_key(when: datetime, seq: int = 0) -> int:
    """The ``taken_key`` of ``when`` (clamped to 1900-2199) and ``seq``; ``seq`` 0 gives the
    lowest key of that day (a date bound)."""
    return (_clamped(when) - EPOCH).days * SEQ_SPAN + min(seq, SEQ_SPAN - 1)


def derived_fields(
    filename: str | None, metadata: Mapping[str, Any], kind: str, uploaded: datetime, seq: int
) -> dict[str, Any]:
    """The fields the catalog stores for the timeline and the search (see the module)."""
    when, _ = taken(metadata, uploaded)
    return {
        "taken_at": _clamped(when),
        "taken_key": time_key(when, seq),
        "terms": terms_of(filename, metadata, kind),
    }


@dataclass(frozen=True)
class ImageFilter:
    """What a listing is narrowed to; every part optional, all must hold.

    ``q``: words each matching (as a prefix) a word of the file name, title, description or
    keywords; ``camera``/``lens``: words of the camera (make and model) or lens name;
    ``kind``: photo or video; ``taken_after``/``taken_before``: the timeline's time (capture,
    else upload) at or after / before these."""

    q: str | None = None
    camera: str | None = None
    lens: str | None = None
    kind: Kind | None = None
    taken_after: datetime | None = None
    taken_before: datetime | None = None

    def terms(self) -> list[str]:
        """The ``terms`` an image must all hold (none: no word filter)."""
        wanted = list(dict.fromkeys(words(self.q or "")))
        wanted += [f"camera:{w}" for w in words(self.camera or "")]
        wanted += [f"lens:{w}" for w in words(self.lens or "")]
        if self.kind is not None:
            wanted.append(f"kind:{self.kind}")
        return wanted

    def key_range(self) -> tuple[int, int]:
        """``[low, high)`` of ``taken_key`` the dates' days span (the whole range without):
        the days of the bounds are in; :meth:`admits` checks the exact times."""
        low = time_key(self.taken_after) if self.taken_after else 0
        high = time_key(self.taken_before) + SEQ_SPAN if self.taken_before else KEY_END
        return low, high

    def admits(self, taken_at: datetime) -> bool:
        """Whether a photo taken at ``taken_at`` (a stored ``taken_at``) is within the dates."""
        when = _clamped(taken_at)
        after = self.taken_after is None or when >= _clamped(self.taken_after)
        return after and (self.taken_before is None or when < _clamped(self.taken_before))

    @property
    def dated(self) -> bool:
        return self.taken_after is not None or self.taken_before is not None
