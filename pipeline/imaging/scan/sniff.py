"""Pick the parser from the magic bytes - never from a file name or a client's Content-Type."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.imaging.scan import gif, isobmff, jpeg, png, raf, tiff, webp
from pipeline.imaging.scan.stream import Parser
from pipeline.imaging.scan.tally import Tally

SNIFF_BYTES = 64
"""Bytes the sniffer looks at (an ISOBMFF ``ftyp`` box with a few brands)."""

_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
# Generic HEIF brands: the codec is named only by the compatible brands that follow.
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2", b"miaf"})

ParserFactory = Callable[[Tally], Parser]


def sniff(head: bytes) -> tuple[str, ParserFactory] | None:
    """The format name and parser for a file starting with ``head``, or ``None``."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG", jpeg.parse
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG", png.parse
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF", gif.parse
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP", webp.parse
    if head.startswith(raf.MAGIC):
        return "RAF", raf.parse
    if (layout := tiff.layout_of(head)) is not None:
        return layout.raw or "TIFF", lambda tally: tiff.parse(tally, layout)
    if head[4:8] == b"ftyp" and (mime := _ftyp_mime(head)) is not None:
        return mime.removeprefix("image/"), lambda tally: isobmff.parse(tally, mime)
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
