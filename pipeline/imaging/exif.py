"""Extract the useful EXIF fields from a raw EXIF block.

libvips exposes EXIF as display strings ("Canon (Canon, ASCII, 6 components, 6 bytes)"), and
HEIC's EXIF comes from pi-heif as raw bytes anyway, so a small TIFF-structure reader over the
raw block serves both paths the same way. Malformed EXIF is common in the wild: anything that
cannot be read is skipped, never an error.
"""

from __future__ import annotations

import struct
from fractions import Fraction

from pipeline.domain.text import without_controls

_IFD0 = {0x010F: "camera_make", 0x0110: "camera_model", 0x0112: "orientation"}
_EXIF = {
    0x9003: "capture_time",
    0x9011: "offset_time",
    0x829A: "exposure",
    0x829D: "f_number",
    0x8827: "iso",
    0x920A: "focal_length",
    0xA434: "lens",
}
_GPS = {1: "lat_ref", 2: "lat", 3: "lon_ref", 4: "lon"}
_EXIF_POINTER, _GPS_POINTER = 0x8769, 0x8825
# Apple's maker note ("Apple iOS", version, "MM", then an IFD whose offsets count from the
# note's start); its tag 0x11 is the content identifier a live photo's video carries too.
_MAKER_NOTE, _APPLE, _APPLE_CONTENT_ID = 0x927C, b"Apple iOS\x00", 0x0011
# type id -> (struct code, size of one value); rationals are two LONGs.
_TYPES = {1: ("B", 1), 2: ("s", 1), 3: ("H", 2), 4: ("I", 4), 5: ("II", 8), 7: ("B", 1)}
_TYPES |= {9: ("i", 4), 10: ("ii", 8)}

Value = str | int | float | list[float]


def parse_exif(blob: bytes | None, *, store_gps: bool) -> dict[str, object]:
    """Return capture_time, camera_make, camera_model, lens, orientation, iso, exposure,
    f_number, focal_length, content_identifier (Apple's live photo link; those present) and
    ``gps`` ({lat, lon}) only if ``store_gps``."""
    if not blob:
        return {}
    tiff = blob[6:] if blob.startswith(b"Exif\x00\x00") else blob
    if tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return {}
    order = "<" if tiff[:2] == b"II" else ">"
    raw: dict[str, Value] = {}
    try:
        ifd0 = _read_ifd(tiff, order, struct.unpack_from(order + "I", tiff, 4)[0])
    except (struct.error, IndexError, ValueError):
        return {}
    _pick(ifd0, _IFD0, raw)
    if isinstance(pointer := ifd0.get(_EXIF_POINTER), int):
        _pick(_safe_ifd(tiff, order, pointer), _EXIF, raw)
        if identifier := _apple_content_identifier(tiff, order, pointer):
            raw["content_identifier"] = identifier
    if store_gps and isinstance(pointer := ifd0.get(_GPS_POINTER), int):
        _pick(_safe_ifd(tiff, order, pointer), _GPS, raw)
    return _tidy(raw)


def _tidy(raw: dict[str, Value]) -> dict[str, object]:
    out: dict[str, object] = {"capture_time": None}
    if isinstance(stamp := raw.pop("capture_time", None), str) and len(stamp) >= 19:
        # "2024:05:01 12:34:56" -> ISO 8601, with the offset when the camera recorded one.
        iso = stamp[:10].replace(":", "-") + "T" + stamp[11:19]
        offset = raw.pop("offset_time", None)
        out["capture_time"] = iso + (offset if isinstance(offset, str) else "")
    raw.pop("offset_time", None)
    lat, lon = raw.pop("lat", None), raw.pop("lon", None)
    lat_ref, lon_ref = raw.pop("lat_ref", "N"), raw.pop("lon_ref", "E")
    if isinstance(lat, list) and isinstance(lon, list) and len(lat) == len(lon) == 3:
        out["gps"] = {
            "lat": round(_degrees(lat) * (-1 if lat_ref == "S" else 1), 7),
            "lon": round(_degrees(lon) * (-1 if lon_ref == "W" else 1), 7),
        }
    for key, value in raw.items():
        if isinstance(value, list):
            continue  # a scalar field stored as several values: not worth guessing
        out[key] = value
    return out


def _degrees(dms: list[float]) -> float:
    return dms[0] + dms[1] / 60 + dms[2] / 3600


def _pick(ifd: dict[int, Value], names: dict[int, str], out: dict[str, Value]) -> None:
    for tag, name in names.items():
        if tag in ifd and ifd[tag] != "":
            out[name] = ifd[tag]


def _apple_content_identifier(tiff: bytes, order: str, exif: int) -> str | None:
    """The live photo's content identifier in Apple's maker note (None: not Apple's)."""
    try:
        for i in range(struct.unpack_from(order + "H", tiff, exif)[0]):
            tag, kind, count, at = struct.unpack_from(order + "HHII", tiff, exif + 2 + 12 * i)
            if tag == _MAKER_NOTE and kind == 7 and count > 16:
                note = tiff[at : at + count]
                break
        else:
            return None
    except struct.error:
        return None
    if not note.startswith(_APPLE) or note[12:14] != b"MM":
        return None
    identifier = _safe_ifd(note, ">", 14).get(_APPLE_CONTENT_ID)
    return identifier[:64] if isinstance(identifier, str) and identifier else None


def _safe_ifd(tiff: bytes, order: str, offset: int) -> dict[int, Value]:
    try:
        return _read_ifd(tiff, order, offset)
    except (struct.error, IndexError, ValueError):
        return {}


def _read_ifd(tiff: bytes, order: str, offset: int) -> dict[int, Value]:
    entries: dict[int, Value] = {}
    for i in range(struct.unpack_from(order + "H", tiff, offset)[0]):
        tag, kind, count, field = struct.unpack_from(order + "HHI4s", tiff, offset + 2 + 12 * i)
        if kind not in _TYPES or count == 0 or count > 4096:
            continue
        code, size = _TYPES[kind]
        data = field
        if count * size > 4:
            at = struct.unpack_from(order + "I", field)[0]
            data = tiff[at : at + count * size]
            if len(data) < count * size:
                continue
        entries[tag] = _decode(kind, code, count, data, order)
    return entries


def _decode(kind: int, code: str, count: int, data: bytes, order: str) -> Value:
    if kind == 2:  # ASCII, NUL-terminated
        text = data[:count].split(b"\x00", 1)[0].decode("utf-8", "replace")
        return without_controls(text).strip()  # shown in pages and terminals: no escapes
    if kind in (5, 10):
        nums = struct.unpack_from(order + code[0] * (2 * count), data)
        values = [
            float(Fraction(n, d)) if d else 0.0 for n, d in zip(nums[::2], nums[1::2], strict=True)
        ]
        return round(values[0], 6) if count == 1 else values
    ints = struct.unpack_from(order + code * count, data)
    return int(ints[0]) if count == 1 else [float(v) for v in ints]
