"""What a video's header declares, and the codecs this pipeline can decode.

The container parsers (:mod:`.mp4` for MP4, QuickTime and 3GP; :mod:`.matroska` for WebM
and Matroska) report a :class:`VideoInfo` to the tally, which checks it against the limits
(:meth:`~pipeline.imaging.scan.tally.Tally.found_video`). Codec names are FFmpeg's decoder
names; a stream whose codec is not in :data:`DECODABLE` makes the upload a 415 naming it.
"""

from __future__ import annotations

from dataclasses import dataclass

# FFmpeg decoders the worker's PyAV wheel carries (tests/unit/test_imaging_video_probe.py
# checks each against the installed av).
DECODABLE_VIDEO = frozenset({"h264", "hevc", "av1", "vp9", "vp8", "mpeg4", "h263", "mjpeg"})
DECODABLE_AUDIO = frozenset(
    {"aac", "opus", "vorbis", "mp3", "flac", "alac", "ac3", "eac3", "amrnb", "amrwb", "pcm"}
)
DECODABLE = DECODABLE_VIDEO | DECODABLE_AUDIO

VIDEO_MIMES = frozenset(
    {"video/mp4", "video/quicktime", "video/3gpp", "video/webm", "video/x-matroska"}
)


@dataclass(frozen=True)
class Stream:
    """One audio or video stream: ``kind`` ``"video"`` or ``"audio"``; ``codec`` an FFmpeg
    decoder name, or the container's own tag (``"fourcc:xxxx"``, ``"V_FOO"``) when unknown."""

    kind: str
    codec: str


@dataclass(frozen=True)
class VideoInfo:
    """A video's header: the first video stream's frame size (coded, before rotation) and
    frame rate, the duration, the clockwise quarter turn to display it upright (0, 90, 180,
    270), and every audio and video stream. ``duration_seconds`` is ``None`` when the
    container does not say (a WebM recorded live by a browser); ``fps`` likewise."""

    width: int
    height: int
    duration_seconds: float | None
    fps: float | None
    rotation: int
    streams: tuple[Stream, ...]

    @property
    def video_codec(self) -> str:
        return next(s.codec for s in self.streams if s.kind == "video")

    @property
    def audio_codec(self) -> str | None:
        return next((s.codec for s in self.streams if s.kind == "audio"), None)

    @property
    def undecodable(self) -> list[str]:
        """Codecs of streams no decoder here reads."""
        return [s.codec for s in self.streams if s.codec not in DECODABLE]
