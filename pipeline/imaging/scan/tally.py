"""What a header scan found, checked against the limits the moment each figure is known."""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline.domain.errors import (
    ImageTooLarge,
    TooManyFrames,
    TooManyScans,
    UndecodableImage,
    UploadTooLarge,
)
from pipeline.runtime.settings import LimitsSettings


@dataclass(frozen=True)
class ImageHeader:
    """Type, stored (un-rotated) size and decode-cost figures of one image.

    ``mime`` comes from the magic bytes; ``frames`` counts animation frames or TIFF pages;
    ``scans`` counts JPEG scans (SOS markers; 1 for baseline, ~10 for a usual progressive
    file); ``raw`` names the camera RAW format (``"DNG"``, ``"CR2"`` ...) or is ``None``.
    For a RAW, ``width`` x ``height`` is the largest image its container declares (the
    sensor's, not the embedded preview's). ``first_frame`` is the (left, top, width,
    height) of a GIF's first frame when it leaves part of the canvas uncovered, else None.
    """

    mime: str
    width: int
    height: int
    frames: int = 1
    scans: int = 0
    raw: str | None = None
    first_frame: tuple[int, int, int, int] | None = None

    @property
    def format_name(self) -> str:
        """Short name for messages: ``JPEG``, ``TIFF``, ``DNG`` ..."""
        return self.raw or self.mime.removeprefix("image/").upper()


def check_size(width: int, height: int, limits: LimitsSettings) -> None:
    """Raise :class:`UndecodableImage` for no pixels, :class:`ImageTooLarge` above the limits."""
    if width <= 0 or height <= 0:
        raise UndecodableImage(
            f"header declares a {width}x{height} image", public_message="empty image"
        )
    if width * height > limits.max_pixels or max(width, height) > limits.max_side:
        raise ImageTooLarge(
            f"{width}x{height} ({width * height} pixels) exceeds "
            f"max_pixels={limits.max_pixels} or max_side={limits.max_side}",
            public_message=f"image of {width}x{height} pixels is too large "
            f"(at most {limits.max_pixels} pixels and {limits.max_side} per side)",
        )


class Tally:
    """Collects the header and the counts a parser reports; raises as soon as a limit breaks."""

    def __init__(self, limits: LimitsSettings) -> None:
        self._limits = limits
        self._found: ImageHeader | None = None
        self.frames = 0
        self.scans = 0
        self.bytes = 0
        self.first_frame: tuple[int, int, int, int] | None = None

    @property
    def header(self) -> ImageHeader | None:
        """The header with the counts so far (final once the stream has ended)."""
        if self._found is None:
            return None
        # Counted frames (GIF image descriptors, WebP ANMF chunks, APNG frames) replace the
        # header's figure; a file without any keeps it (a still image is one frame).
        frames = self.frames or self._found.frames
        return replace(self._found, frames=frames, scans=self.scans, first_frame=self.first_frame)

    def found(
        self, mime: str, width: int, height: int, *, frames: int = 1, raw: str | None = None
    ) -> None:
        """Record the image size; raises :class:`UndecodableImage` or :class:`ImageTooLarge`."""
        check_size(width, height, self._limits)
        self._found = ImageHeader(mime, width, height, frames, raw=raw)
        self.check_frames(frames)

    def add_frames(self, count: int = 1) -> None:
        """Count animation frames or pages; raises :class:`TooManyFrames` above the limit."""
        self.frames += count
        self.check_frames(self.frames)

    def add_scans(self, count: int = 1) -> None:
        """Count JPEG scans (the limit is checked by :meth:`check_scans` at the end)."""
        self.scans += count

    @property
    def too_many_scans(self) -> bool:
        return self.scans > self._limits.max_jpeg_scans

    def check_scans(self) -> None:
        """Raise :class:`TooManyScans`, naming the count, if it is above ``max_jpeg_scans``."""
        limit = self._limits.max_jpeg_scans
        if self.scans > limit:
            raise TooManyScans(
                f"JPEG has {self.scans} scans, max_jpeg_scans={limit}",
                public_message=f"progressive JPEG with {self.scans} scans "
                f"(at most {limit} allowed): each scan is another decode pass",
            )

    def add_bytes(self, count: int) -> None:
        """Count streamed bytes; raises :class:`UploadTooLarge` above ``max_upload_bytes``."""
        self.bytes += count
        if self.bytes > self._limits.max_upload_bytes:
            raise UploadTooLarge(
                f"upload exceeds max_upload_bytes={self._limits.max_upload_bytes}",
                public_message=f"upload exceeds the limit of {self._limits.max_upload_bytes} bytes",
            )

    def check_frames(self, frames: int) -> None:
        """Raise :class:`TooManyFrames` if ``frames`` is above ``max_frames``."""
        if frames > self._limits.max_frames:
            raise TooManyFrames(
                f"{frames} frames exceeds max_frames={self._limits.max_frames}",
                public_message=f"image has {frames} frames, "
                f"at most {self._limits.max_frames} allowed",
            )
