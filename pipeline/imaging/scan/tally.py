"""What a header scan found, checked against the limits the moment each figure is known."""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline.domain.errors import (
    ImageTooLarge,
    TooManyFrames,
    TooManyScans,
    TooManyStreams,
    UndecodableImage,
    UnsupportedMediaType,
    UploadTooLarge,
    VideoTooLong,
)
from pipeline.imaging.scan.video import VideoInfo
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
    A video (``video/*``) has its header in ``video``, and ``width`` x ``height`` is its
    frame size (coded, before rotation).
    """

    mime: str
    width: int
    height: int
    frames: int = 1
    scans: int = 0
    raw: str | None = None
    video: VideoInfo | None = None
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


def check_frame(width: int, height: int, limits: LimitsSettings) -> None:
    """A video frame's size: :class:`UndecodableImage` for none, :class:`ImageTooLarge` above
    ``max_video_pixels`` or ``max_side``."""
    if width <= 0 or height <= 0:
        raise UndecodableImage(
            f"header declares a {width}x{height} video frame", public_message="empty video frame"
        )
    if width * height > limits.max_video_pixels or max(width, height) > limits.max_side:
        raise ImageTooLarge(
            f"video frame {width}x{height} exceeds max_video_pixels={limits.max_video_pixels} "
            f"or max_side={limits.max_side}",
            public_message=f"video frame of {width}x{height} pixels is too large "
            f"(at most {limits.max_video_pixels} pixels and {limits.max_side} per side)",
        )


class Tally:
    """Collects the header and the counts a parser reports; raises as soon as a limit breaks."""

    def __init__(self, limits: LimitsSettings) -> None:
        self._limits = limits
        self._found: ImageHeader | None = None
        self.frames = 0
        self.scans = 0
        self.bytes = 0
        self.video = False  # the magic bytes say video: the video upload limit applies
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

    def found_video(self, mime: str, info: VideoInfo) -> None:
        """Record a video's header; raises :class:`UnsupportedMediaType` (no video stream, a
        codec no decoder here reads), :class:`TooManyStreams`, :class:`UndecodableImage`,
        :class:`ImageTooLarge` (the frame) or :class:`VideoTooLong`."""
        limits = self._limits
        if not any(s.kind == "video" for s in info.streams):
            kinds = ", ".join(sorted({s.kind for s in info.streams})) or "no"
            raise UnsupportedMediaType(
                f"{mime} without a video stream ({kinds} streams)",
                public_message=f"the file has no video stream ({kinds} streams only)",
            )
        if unreadable := info.undecodable:
            names = ", ".join(sorted(set(unreadable)))
            raise UnsupportedMediaType(
                f"{mime} with codecs no decoder here reads: {names}",
                public_message=f"the video's codec cannot be decoded here: {names}",
            )
        if len(info.streams) > limits.max_video_streams:
            raise TooManyStreams(
                f"{len(info.streams)} streams, max_video_streams={limits.max_video_streams}",
                public_message=f"the video has {len(info.streams)} audio and video streams, "
                f"at most {limits.max_video_streams} allowed",
            )
        check_frame(info.width, info.height, limits)
        seconds = info.duration_seconds
        if seconds is not None and seconds > limits.max_video_seconds:
            raise VideoTooLong(
                f"{seconds:.0f} s, max_video_seconds={limits.max_video_seconds:g}",
                public_message=f"the video lasts {seconds:.0f} s, "
                f"at most {limits.max_video_seconds:g} s allowed",
            )
        self._found = ImageHeader(mime, info.width, info.height, video=info)

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
        """Count streamed bytes; raises :class:`UploadTooLarge` above ``max_upload_bytes``
        (``max_video_upload_bytes`` once the magic bytes said video)."""
        self.bytes += count
        name = "max_video_upload_bytes" if self.video else "max_upload_bytes"
        limit: int = getattr(self._limits, name)
        if self.bytes > limit:
            raise UploadTooLarge(
                f"upload exceeds {name}={limit}",
                public_message=f"upload exceeds the limit of {limit} bytes",
            )

    def check_frames(self, frames: int) -> None:
        """Raise :class:`TooManyFrames` if ``frames`` is above ``max_frames``."""
        if frames > self._limits.max_frames:
            raise TooManyFrames(
                f"{frames} frames exceeds max_frames={self._limits.max_frames}",
                public_message=f"image has {frames} frames, "
                f"at most {self._limits.max_frames} allowed",
            )
