"""Sidecar files next to photos: XMP, Apple's AAE and Google Takeout's JSON.

A sidecar belongs to the photo whose name it extends or shares a stem with: ``IMG_1.xmp``
or ``IMG_1.JPG.xmp`` (XMP), ``IMG_1.AAE`` or ``IMG_O1.AAE`` (Apple's edit list),
``IMG_1.JPG.json`` or ``IMG_1.JPG.supplemental-metadata.json`` (Takeout; Google shortens
long names, so any ``.json`` that starts with the photo's name counts).

:func:`read` gives the well-known fields a sidecar holds, in the API's field terms:
``title``, ``description``, ``keywords`` (list), ``rating`` (0-5) and ``taken_at`` (ISO 8601,
UTC for Takeout's ``photoTakenTime``). AAE files hold edits, not metadata: ``{}``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SUFFIXES = frozenset({".xmp", ".aae", ".json"})
MAX_BYTES = 1024 * 1024  # a sidecar larger than this is no sidecar: read as unknown

_NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
}


def is_candidate(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES


def owner(sidecar: Path, photos: dict[str, Path]) -> Path | None:
    """The photo (among ``photos``: lower-cased name -> path, same folder) it belongs to."""
    name = sidecar.name.lower()
    suffix = sidecar.suffix.lower()
    if suffix == ".json":
        matches = [p for n, p in photos.items() if name.startswith(n + ".") or name == n]
        return max(matches, key=lambda p: len(p.name), default=None)
    stem = name[: -len(suffix)]
    if stem in photos:  # IMG_1.JPG.xmp
        return photos[stem]
    candidates = [stem]
    if suffix == ".aae" and stem.startswith("img_o"):  # IMG_O1.AAE edits IMG_1.HEIC
        candidates.append("img_" + stem[5:])
    for candidate in candidates:
        for photo_name, photo in photos.items():
            if photo_name.rsplit(".", 1)[0] == candidate:
                return photo
    return None


def read(path: Path) -> tuple[str, dict[str, Any]]:
    """``(kind, fields)``: kind is ``XMP``, ``AAE``, ``Takeout JSON`` or ``unknown``."""
    suffix = path.suffix.lower()
    try:
        if path.stat().st_size > MAX_BYTES:
            return "unknown", {}
        raw = path.read_bytes()
    except OSError:
        return "unknown", {}
    if suffix == ".aae":
        return "AAE", {}
    if suffix == ".xmp":
        return ("XMP", _xmp(raw)) if b"x:xmpmeta" in raw or b"rdf:RDF" in raw else ("unknown", {})
    return _takeout(raw)


def _takeout(raw: bytes) -> tuple[str, dict[str, Any]]:
    try:
        doc = json.loads(raw)
    except ValueError:
        return "unknown", {}
    if not isinstance(doc, dict) or not ({"photoTakenTime", "creationTime"} & doc.keys()):
        return "unknown", {}
    fields: dict[str, Any] = {}
    taken = doc.get("photoTakenTime")
    if isinstance(taken, dict) and str(taken.get("timestamp", "")).isdigit():
        fields["taken_at"] = datetime.fromtimestamp(int(taken["timestamp"]), UTC).isoformat()
    for key in ("title", "description"):
        if isinstance(doc.get(key), str) and doc[key].strip():
            fields[key] = doc[key].strip()
    return "Takeout JSON", fields


def _xmp(raw: bytes) -> dict[str, Any]:
    try:
        # The standard parser resolves no external entities, and expat (2.4+) refuses
        # entity expansion bombs; the size is bounded above.
        root = ET.fromstring(raw)
    except ET.ParseError:
        return {}
    fields: dict[str, Any] = {}
    for description in root.iter(f"{{{_NS['rdf']}}}Description"):
        _xmp_description(description, fields)
    return fields


def _xmp_description(node: ET.Element, fields: dict[str, Any]) -> None:
    def items(tag: str) -> list[str]:
        element = node.find(tag, _NS)
        if element is None:
            return []
        texts = [li.text.strip() for li in element.iter(f"{{{_NS['rdf']}}}li") if li.text]
        return texts or ([element.text.strip()] if element.text and element.text.strip() else [])

    def attribute_or_child(tag: str) -> str | None:
        prefix, local = tag.split(":")
        value = node.get(f"{{{_NS[prefix]}}}{local}")
        if value is None and (child := node.find(tag, _NS)) is not None:
            value = child.text
        return value.strip() if value and value.strip() else None

    if title := items("dc:title"):
        fields["title"] = title[0]
    if description := items("dc:description"):
        fields["description"] = description[0]
    if keywords := items("dc:subject"):
        fields["keywords"] = keywords
    rating = attribute_or_child("xmp:Rating")
    if rating is not None and rating.lstrip("-").isdigit():
        fields["rating"] = max(0, min(5, int(rating)))
    for tag in ("photoshop:DateCreated", "exif:DateTimeOriginal", "xmp:CreateDate"):
        if (taken := attribute_or_child(tag)) is not None:
            fields.setdefault("taken_at", taken)
