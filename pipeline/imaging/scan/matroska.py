"""WebM and Matroska videos: the EBML header, the segment's ``Info`` and ``Tracks``
(Matroska specification, RFC 9559).

Elements are an ID and a size, both EBML variable-length integers. The parser reads the
``DocType`` (``webm`` or ``matroska``), then in the ``Segment``: ``Info`` (timestamp scale
and duration), ``Tracks`` (per ``TrackEntry``: type, ``CodecID``, default frame duration,
pixel size). Everything else (``SeekHead``, ``Cues``, attachments) is skipped by its size;
the first ``Cluster`` (media data) ends the scan once the tracks are known. An element of
unknown size (a live recording) is entered, never skipped.
"""

from __future__ import annotations

import struct
from collections.abc import Generator
from dataclasses import dataclass, field

from pipeline.domain.errors import UndecodableImage
from pipeline.imaging.scan.stream import EndOfStream, Parser, Read, Request, Skip
from pipeline.imaging.scan.tally import Tally
from pipeline.imaging.scan.video import Stream, VideoInfo

MAGIC = b"\x1a\x45\xdf\xa3"

_EBML = 0x1A45DFA3
_DOCTYPE = 0x4282
_SEGMENT = 0x18538067
_INFO = 0x1549A966
_TIMESTAMP_SCALE = 0x2AD7B1
_DURATION = 0x4489
_TRACKS = 0x1654AE6B
_TRACK_ENTRY = 0xAE
_TRACK_TYPE = 0x83
_CODEC_ID = 0x86
_DEFAULT_DURATION = 0x23E383
_VIDEO = 0xE0
_PIXEL_WIDTH = 0xB0
_PIXEL_HEIGHT = 0xBA
_CLUSTER = 0x1F43B675
_MAX_VALUE = 4096  # a string or number element larger than this is not a header field

# Matroska codec IDs (the codec mapping registry) -> FFmpeg decoder.
CODEC_IDS = {
    "V_MPEG4/ISO/AVC": "h264",
    "V_MPEGH/ISO/HEVC": "hevc",
    "V_AV1": "av1",
    "V_VP9": "vp9",
    "V_VP8": "vp8",
    "V_MPEG4/ISO/ASP": "mpeg4",
    "V_MPEG4/ISO/SP": "mpeg4",
    "V_MJPEG": "mjpeg",
    "A_OPUS": "opus",
    "A_VORBIS": "vorbis",
    "A_AAC": "aac",
    "A_FLAC": "flac",
    "A_MPEG/L3": "mp3",
    "A_AC3": "ac3",
    "A_EAC3": "eac3",
    "A_PCM/INT/LIT": "pcm",
    "A_PCM/INT/BIG": "pcm",
    "A_PCM/FLOAT/IEEE": "pcm",
}
_KINDS = {1: "video", 2: "audio"}
_UNKNOWN = -1


@dataclass
class _Track:
    kind: str | None = None
    codec: str = "unknown"
    width: int = 0
    height: int = 0
    frame_ns: int = 0


@dataclass
class _Segment:
    scale_ns: int = 1_000_000
    duration: float | None = None
    tracks: list[_Track] = field(default_factory=list)
    tracks_seen: bool = False


def mime_of(head: bytes) -> str | None:
    """``video/webm`` or ``video/x-matroska`` for an EBML file whose DocType is in ``head``."""
    if not head.startswith(MAGIC):
        return None
    if b"\x42\x82\x84webm" in head:
        return "video/webm"
    if b"\x42\x82\x88matroska" in head:
        return "video/x-matroska"
    return None


def parse(tally: Tally, mime: str) -> Parser:
    element, size = yield from _element()
    if element != _EBML or size == _UNKNOWN:
        raise UndecodableImage("no EBML header")
    yield Skip(size)
    segment = _Segment()
    try:
        while not segment.tracks_seen:
            element, size = yield from _element()
            if element == _SEGMENT:
                yield from _segment(size, segment)
            elif size == _UNKNOWN:
                raise UndecodableImage(f"top-level element {element:#x} of unknown size")
            else:
                yield Skip(size)
    except EndOfStream:
        if not segment.tracks_seen:
            raise UndecodableImage(f"no Tracks in the {mime} file") from None
    tally.found_video(mime, _info(segment))


def _segment(room: int, segment: _Segment) -> Parser:
    """The segment's children up to the first cluster (``room`` may be unknown)."""
    while room == _UNKNOWN or room > 0:
        element, size, used = yield from _element_sized()
        if room != _UNKNOWN:
            room -= used + max(size, 0)
        if element == _CLUSTER and segment.tracks_seen:
            return
        if size == _UNKNOWN:
            if element == _CLUSTER:
                raise UndecodableImage("media data before the Tracks")
            raise UndecodableImage(f"segment element {element:#x} of unknown size")
        if element == _INFO:
            yield from _info_element(size, segment)
        elif element == _TRACKS:
            yield from _tracks(size, segment)
            segment.tracks_seen = True
            if segment.duration is not None:
                return
        else:
            yield Skip(size)


def _info_element(room: int, segment: _Segment) -> Parser:
    while room > 0:
        element, size, used = yield from _element_sized()
        room -= used + size
        if element == _TIMESTAMP_SCALE:
            segment.scale_ns = yield from _uint(size)
        elif element == _DURATION and size in (4, 8):
            data = yield Read(size)
            segment.duration = struct.unpack(">f" if size == 4 else ">d", data)[0]
        else:
            yield Skip(size)


def _tracks(room: int, segment: _Segment) -> Parser:
    while room > 0:
        element, size, used = yield from _element_sized()
        room -= used + size
        if element == _TRACK_ENTRY:
            track = _Track()
            segment.tracks.append(track)
            yield from _track(size, track)
        else:
            yield Skip(size)


def _track(room: int, track: _Track) -> Parser:
    while room > 0:
        element, size, used = yield from _element_sized()
        room -= used + size
        if element == _TRACK_TYPE:
            track.kind = _KINDS.get((yield from _uint(size)))
        elif element == _CODEC_ID:
            codec = (yield from _bytes(size)).rstrip(b"\x00").decode("ascii", "replace")
            track.codec = CODEC_IDS.get(codec, codec)
        elif element == _DEFAULT_DURATION:
            track.frame_ns = yield from _uint(size)
        elif element == _VIDEO:
            yield from _video(size, track)
        else:
            yield Skip(size)


def _video(room: int, track: _Track) -> Parser:
    while room > 0:
        element, size, used = yield from _element_sized()
        room -= used + size
        if element == _PIXEL_WIDTH:
            track.width = yield from _uint(size)
        elif element == _PIXEL_HEIGHT:
            track.height = yield from _uint(size)
        else:
            yield Skip(size)


def _element() -> Generator[Request, bytes, tuple[int, int]]:
    element, size, _ = yield from _element_sized()
    return element, size


def _element_sized() -> Generator[Request, bytes, tuple[int, int, int]]:
    """ID (marker bit kept), size (``_UNKNOWN`` when all ones) and header length."""
    element, id_length = yield from _vint(4, keep_marker=True)
    size, size_length = yield from _vint(8, keep_marker=False)
    if size == (1 << (7 * size_length)) - 1:
        size = _UNKNOWN
    return element, size, id_length + size_length


def _vint(longest: int, *, keep_marker: bool) -> Generator[Request, bytes, tuple[int, int]]:
    first = (yield Read(1))[0]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > longest:
        raise UndecodableImage("malformed EBML element header")
    value = first if keep_marker else first & (0xFF >> length)
    if length > 1:
        value = (value << (8 * (length - 1))) | int.from_bytes((yield Read(length - 1)), "big")
    return value, length


def _uint(size: int) -> Generator[Request, bytes, int]:
    if size > 8:
        raise UndecodableImage(f"an EBML integer of {size} bytes")
    return int.from_bytes((yield Read(size)), "big") if size else 0


def _bytes(size: int) -> Generator[Request, bytes, bytes]:
    if size > _MAX_VALUE:
        raise UndecodableImage(f"an EBML string of {size} bytes")
    return (yield Read(size))


def _info(segment: _Segment) -> VideoInfo:
    streams = tuple(Stream(t.kind, t.codec) for t in segment.tracks if t.kind is not None)
    seconds = segment.duration * segment.scale_ns / 1e9 if segment.duration else None
    video = next((t for t in segment.tracks if t.kind == "video"), None)
    if video is None:
        return VideoInfo(0, 0, seconds, None, 0, streams)
    fps = 1e9 / video.frame_ns if video.frame_ns else None
    return VideoInfo(video.width, video.height, seconds, fps, 0, streams)
