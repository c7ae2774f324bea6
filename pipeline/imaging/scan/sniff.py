"""Pick the parser from the magic bytes - never from a file name or a client's Content-Type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipeline.imaging.scan import gif, isobmff, jpeg, matroska, mp4, png, raf, tiff, webp
from pipeline.imaging.scan.stream import Parser
from pipeline.imaging.scan.tally import Tally

SNIFF_BYTES = 64
"""Bytes the sniffer looks at (an ISOBMFF ``ftyp`` box with a few brands)."""

_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
# Generic HEIF brands: the codec is named only by the compatible brands that follow.
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2", b"miaf"})

# Video brands of an ftyp box (ISO/IEC 14496-12 and -14, QuickTime, 3GPP TS 26.244).
_QUICKTIME_BRANDS = frozenset({b"qt  "})
_MP4_BRANDS = frozenset(
    {
        b"isom",
        b"iso2",
        b"iso4",
        b"iso5",
        b"iso6",
        b"mp41",
        b"mp42",
        b"avc1",
        b"M4V ",
        b"M4VH",
        b"M4VP",
        b"M4A ",
        b"dash",
        b"mp71",
        b"MSNV",
        b"XAVC",
        b"f4v ",
        b"hvc1",
        b"av01",
    }
)
# A QuickTime file older than ftyp starts with one of these atoms.
_QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})

ParserFactory = Callable[[Tally], Parser]
Sniffed = tuple[str, ParserFactory] | None

_VIDEO_NAMES = {
    "video/mp4": "MP4",
    "video/quicktime": "QuickTime",
    "video/3gpp": "3GP",
    "video/webm": "WebM",
    "video/x-matroska": "Matroska",
}


VIDEO_FORMATS = frozenset(_VIDEO_NAMES.values())
"""Format names :func:`sniff` gives videos (their own upload size limit applies)."""


@dataclass(frozen=True)
class Family:
    """One kind of file the gate accepts: ``label`` is what people are told (the 415 text,
    docs/api.md), ``match`` the magic-byte test giving the format name and its parser."""

    label: str
    video: bool
    match: Callable[[bytes], tuple[str, ParserFactory] | None]


def _magic(prefix: bytes, name: str, parse: ParserFactory) -> Callable[[bytes], Sniffed]:
    return lambda head: (name, parse) if head.startswith(prefix) else None


def _gif(head: bytes) -> Sniffed:
    return ("GIF", gif.parse) if head[:6] in (b"GIF87a", b"GIF89a") else None


def _webp(head: bytes) -> Sniffed:
    return ("WebP", webp.parse) if head[:4] == b"RIFF" and head[8:12] == b"WEBP" else None


def _tiff(head: bytes) -> Sniffed:
    layout = tiff.layout_of(head)
    if layout is None or layout.raw:
        return None
    return "TIFF", lambda tally: tiff.parse(tally, layout)


def _ftyp_image(mimes: frozenset[str]) -> Callable[[bytes], Sniffed]:
    def match(head: bytes) -> Sniffed:
        mime = _ftyp_mime(head) if head[4:8] == b"ftyp" else None
        if mime is None or mime not in mimes:
            return None
        return mime.removeprefix("image/"), lambda tally: isobmff.parse(tally, mime)

    return match


def _raw(head: bytes) -> Sniffed:
    """Camera RAW: Fujifilm's RAF, the TIFF-based ones (DNG, CR2, NEF, ARW...), Canon's CR3."""
    if head.startswith(raf.MAGIC):
        return "RAF", raf.parse
    if (layout := tiff.layout_of(head)) is not None and layout.raw:
        return layout.raw, lambda tally: tiff.parse(tally, layout)
    return _ftyp_image(frozenset({isobmff.CR3_MIME}))(head)


def _video(mime: str) -> Callable[[bytes], Sniffed]:
    parse = matroska.parse if mime in ("video/webm", "video/x-matroska") else mp4.parse

    def match(head: bytes) -> Sniffed:
        if _video_mime(head) != mime:
            return None
        return _VIDEO_NAMES[mime], lambda tally: parse(tally, mime)

    return match


FAMILIES: tuple[Family, ...] = (
    Family("JPEG", False, _magic(b"\xff\xd8\xff", "JPEG", jpeg.parse)),
    Family("PNG", False, _magic(b"\x89PNG\r\n\x1a\n", "PNG", png.parse)),
    Family("GIF", False, _gif),
    Family("WebP", False, _webp),
    Family("AVIF", False, _ftyp_image(frozenset({"image/avif"}))),
    Family("HEIC", False, _ftyp_image(frozenset({"image/heic"}))),
    Family("TIFF", False, _tiff),
    Family("camera RAW", False, _raw),
    *(Family(name, True, _video(mime)) for mime, name in _VIDEO_NAMES.items()),
)
"""Every accepted kind of file, in the order :func:`sniff` tries them (images before videos:
an HEIC's ``ftyp`` may list video brands too)."""


def accepted(*, videos: bool) -> str:
    """What the gate accepts, as a 415 answer says it: ``images: JPEG, ...; videos: MP4, ...``
    (without ``videos``, the images alone)."""
    images = ", ".join(f.label for f in FAMILIES if not f.video)
    if not videos:
        return images
    return f"images: {images}; videos: {', '.join(f.label for f in FAMILIES if f.video)}"


def sniff(head: bytes) -> tuple[str, ParserFactory] | None:
    """The format name and parser for a file starting with ``head``, or ``None``."""
    for family in FAMILIES:
        if (found := family.match(head)) is not None:
            return found
    return None


def _video_mime(head: bytes) -> str | None:
    if head.startswith(matroska.MAGIC):
        return matroska.mime_of(head) or "video/x-matroska"
    if head[4:8] in _QUICKTIME_ATOMS:
        return "video/quicktime"
    if head[4:8] != b"ftyp" or int.from_bytes(head[:4], "big") < 16:
        return None
    major = head[8:12]
    box_size = int.from_bytes(head[:4], "big")
    compatible = {head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)}
    if major in _QUICKTIME_BRANDS:
        return "video/quicktime"
    if major.startswith(b"3g"):
        return "video/3gpp"
    if major in _MP4_BRANDS or compatible & _MP4_BRANDS:
        return "video/mp4"
    return None


def _ftyp_mime(head: bytes) -> str | None:
    box_size = int.from_bytes(head[:4], "big")
    if box_size < 16:
        return None
    major = head[8:12]
    # Compatible brands run from byte 16 to the end of the ftyp box (4 bytes each).
    compatible = {head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)}
    if major == b"crx ":
        return isobmff.CR3_MIME
    if major in _AVIF_BRANDS:
        return "image/avif"
    if major in _HEIC_BRANDS:
        return "image/heic"
    if major in _HEIF_BRANDS or compatible & _HEIF_BRANDS:
        if compatible & _AVIF_BRANDS:
            return "image/avif"
        if compatible & _HEIC_BRANDS or major in _HEIF_BRANDS:
            return "image/heic"
    return None
