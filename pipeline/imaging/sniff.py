"""Detect the image type from magic bytes - never from a file name or a client's Content-Type.

Ours because it is a short table of the seven formats libvips decodes here (signatures from
each format's specification, the ISOBMFF ``ftyp`` brands for AVIF and HEIC); a general
sniffing library would add a dependency and hundreds of types the gateway refuses anyway.
"""

from __future__ import annotations

SNIFF_BYTES = 64
"""Bytes :func:`sniff_mime` needs at most (an ISOBMFF ``ftyp`` box with a few brands)."""

SUPPORTED_MIME: frozenset[str] = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/heic",
        "image/tiff",
    }
)

_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
# Generic HEIF brands: the codec is named only by the compatible brands that follow.
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2", b"miaf"})


def sniff_mime(head: bytes) -> str | None:
    """Return the MIME type of an image from its first bytes, or ``None`` if not supported."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image/tiff"
    if head[4:8] == b"ftyp":
        return _sniff_ftyp(head)
    return None


def _sniff_ftyp(head: bytes) -> str | None:
    box_size = int.from_bytes(head[:4], "big")
    if box_size < 16:
        return None
    major = head[8:12]
    # Compatible brands run from byte 16 to the end of the ftyp box (4 bytes each).
    compatible = {head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)}
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
