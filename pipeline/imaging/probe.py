"""Header probe: type, size and frame count of an upload before anything is stored.

Superseded by :class:`pipeline.imaging.scan.HeaderScanner` (one pass over the whole upload);
kept until the ingest gate is switched over. Shares its :class:`ImageHeader`.

Only headers are read - libvips opens images lazily and a header read decodes no pixels - so
a decompression bomb (a few KB declaring 50000 x 50000) is rejected in well under a
millisecond, before a byte of it is stored or decoded.
"""

from __future__ import annotations

from pipeline.domain.errors import (
    ImageTooLarge,
    TooManyFrames,
    UndecodableImage,
    UnsupportedMediaType,
)
from pipeline.imaging import vips
from pipeline.imaging.header import partial_dimensions
from pipeline.imaging.scan import ImageHeader
from pipeline.imaging.sniff import sniff_mime
from pipeline.runtime.settings import LimitsSettings

__all__ = ["ImageHeader", "check_limits", "probe_header"]  # ImageHeader: for the old gate


def probe_header(head: bytes, limits: LimitsSettings, *, complete: bool) -> ImageHeader:
    """Read the header of an upload from its first bytes and check it against the limits.

    ``complete`` says whether ``head`` is the whole file; when it is not, a header that cannot
    be read may simply lie beyond ``head`` (the frame count is then a lower bound; the worker
    checks again on the whole file).

    Raises :class:`UnsupportedMediaType` for unknown magic bytes, :class:`UndecodableImage`
    for an empty file or an unreadable header, :class:`ImageTooLarge` and
    :class:`TooManyFrames` for limit breaches.
    """
    if not head:
        raise UndecodableImage("empty file", public_message="the file is empty")
    mime = sniff_mime(head)
    if mime is None:
        raise UnsupportedMediaType(
            "unknown magic bytes",
            public_message="not a supported image type (JPEG, PNG, GIF, WebP, AVIF, HEIC, TIFF)",
        )
    header = _read_header(mime, head, complete=complete)
    check_limits(header, limits)
    return header


def check_limits(header: ImageHeader, limits: LimitsSettings) -> None:
    """Raise if the image breaks a size or frame limit (or declares no pixels at all)."""
    w, h = header.width, header.height
    if w <= 0 or h <= 0:
        raise UndecodableImage(f"header declares a {w}x{h} image", public_message="empty image")
    if w * h > limits.max_pixels or max(w, h) > limits.max_side:
        raise ImageTooLarge(
            f"{w}x{h} ({w * h} pixels) exceeds max_pixels={limits.max_pixels} "
            f"or max_side={limits.max_side}",
            public_message=f"image of {w}x{h} pixels is too large "
            f"(at most {limits.max_pixels} pixels and {limits.max_side} per side)",
        )
    if header.frames > limits.max_frames:
        raise TooManyFrames(
            f"{header.frames} frames exceeds max_frames={limits.max_frames}",
            public_message=f"image has {header.frames} frames, at most {limits.max_frames} allowed",
        )


def _read_header(mime: str, head: bytes, *, complete: bool) -> ImageHeader:
    try:
        # Lazy open: reads the header only. fail_on="error" makes a damaged header an error
        # instead of a warning that leaves a grey image for later.
        image = vips.Image.new_from_buffer(head, "", access="sequential", fail_on="error")
        frames = image.get("n-pages") if image.get_typeof("n-pages") else 1
        return ImageHeader(mime, image.width, image.height, max(int(frames), 1))
    except vips.Error as exc:
        reason = vips.error_reason(exc)
    if not complete:
        if (found := partial_dimensions(mime, head)) is not None:
            return ImageHeader(mime, *found)
        # E.g. a TIFF written by libtiff keeps its first IFD after the pixel data.
        reason = f"no readable header within the first {len(head)} bytes ({reason})"
    raise UndecodableImage(
        f"cannot read the {mime} header: {reason}",
        public_message=f"the {mime.removeprefix('image/').upper()} header cannot be read",
    )
