"""MP4, QuickTime (MOV) and 3GP videos: the ``moov`` box (ISO/IEC 14496-12, QuickTime File
Format), wherever it sits.

Top-level boxes before ``moov`` - ``mdat`` above all, which a camera writes first - are
skipped by their size without being held, so a ``moov`` at the end of a multi-gigabyte file
costs a pass over the bytes and no memory. In ``moov``: ``mvhd`` (timescale and duration),
per track ``tkhd`` (the display matrix: rotation), ``mdhd`` (the track's timescale and
duration), ``hdlr`` (``vide`` or ``soun``), the first ``stsd`` entry (codec four-cc; a
visual entry's coded width and height) and ``stts``'s first sample duration (the frame
rate). The rest of the sample tables (``stsz``, ``stco``...) is skipped. A file that ends before
``moov`` is truncated: 422.
"""

from __future__ import annotations

import struct
from collections.abc import Generator
from dataclasses import dataclass, field

from pipeline.domain.errors import UndecodableImage
from pipeline.imaging.scan.isobmff import box_header
from pipeline.imaging.scan.stream import EndOfStream, Parser, Read, Request, Skip
from pipeline.imaging.scan.tally import Tally
from pipeline.imaging.scan.video import Stream, VideoInfo

# Four-cc of sample entries (14496-12 and 14496-15, QuickTime, 3GPP TS 26.244) -> decoder.
FOURCC_CODECS = {
    b"avc1": "h264",
    b"avc3": "h264",
    b"hvc1": "hevc",
    b"hev1": "hevc",
    b"dvh1": "hevc",
    b"dvhe": "hevc",
    b"av01": "av1",
    b"vp09": "vp9",
    b"vp08": "vp8",
    b"mp4v": "mpeg4",
    b"s263": "h263",
    b"h263": "h263",
    b"jpeg": "mjpeg",
    b"mjpa": "mjpeg",
    b"mp4a": "aac",
    b"Opus": "opus",
    b"fLaC": "flac",
    b"alac": "alac",
    b"ac-3": "ac3",
    b"ec-3": "eac3",
    b".mp3": "mp3",
    b"samr": "amrnb",
    b"sawb": "amrwb",
    b"lpcm": "pcm",
    b"sowt": "pcm",
    b"twos": "pcm",
    b"ipcm": "pcm",
}
_HANDLERS = {b"vide": "video", b"soun": "audio"}
_CONTAINERS = frozenset({b"trak", b"mdia", b"minf", b"stbl", b"edts"})
_MAX_DEPTH = 6
# Quarter turns by the display matrix's first two rows (a, b, c, d as 16.16 fixed point).
_ROTATIONS = {(1, 0, 0, 1): 0, (0, 1, -1, 0): 90, (-1, 0, 0, -1): 180, (0, -1, 1, 0): 270}


@dataclass
class _Track:
    kind: str | None = None
    codec: str | None = None
    width: int = 0
    height: int = 0
    rotation: int = 0
    timescale: int = 0
    duration: int = 0
    frame_delta: int = 0


@dataclass
class _Movie:
    timescale: int = 0
    duration: int = 0
    tracks: list[_Track] = field(default_factory=list)


def parse(tally: Tally, mime: str) -> Parser:
    try:
        while True:
            box, body, _ = yield from box_header(None)
            if box == b"moov":
                if body is None:
                    raise UndecodableImage("moov box is not bounded")
                movie = _Movie()
                yield from _moov(body, movie)
                tally.found_video(mime, _info(movie))
                return
            if body is None:  # the last box runs to the end of the file, and it was not moov
                break
            yield Skip(body)
    except EndOfStream:
        pass
    raise UndecodableImage(
        f"no moov box in the {mime} file",
        public_message="the video is truncated or unfinished (it has no moov index)",
    )


def _moov(room: int, movie: _Movie) -> Parser:
    while room >= 8:
        box, body, used = yield from box_header(room)
        assert body is not None  # bounded by room
        room -= used + body
        if box == b"mvhd":
            movie.timescale, movie.duration = yield from _times(body)
        elif box == b"trak":
            track = _Track()
            movie.tracks.append(track)
            yield from _track(body, track, 1)
        else:
            yield Skip(body)
    yield Skip(room)


def _track(room: int, track: _Track, depth: int) -> Parser:
    if depth > _MAX_DEPTH:
        raise UndecodableImage("track boxes nested too deep")
    while room >= 8:
        box, body, used = yield from box_header(room)
        assert body is not None  # bounded by room
        room -= used + body
        if box in _CONTAINERS:
            yield from _track(body, track, depth + 1)
        elif box == b"tkhd":
            yield from _tkhd(body, track)
        elif box == b"mdhd":
            track.timescale, track.duration = yield from _times(body)
        elif box == b"hdlr" and body >= 12:
            # QuickTime also has a data handler (dhlr) in minf: only media handlers count.
            handler = (yield Read(12))[8:12]
            track.kind = _HANDLERS.get(handler, track.kind)
            yield Skip(body - 12)
        elif box == b"stsd" and body >= 16:
            yield from _stsd(body, track)
        elif box == b"stts" and body >= 16:
            # The first run of sample durations: the frame rate (a variable one: its start).
            count, delta = struct.unpack_from(">II", (yield Read(16)), 8)
            track.frame_delta = delta if count else 0
            yield Skip(body - 16)
        else:
            yield Skip(body)
    yield Skip(room)


def _times(body: int) -> Generator[Request, bytes, tuple[int, int]]:
    """(timescale, duration) of an ``mvhd`` or ``mdhd`` (version 0 or 1)."""
    if body < 20:
        raise UndecodableImage("movie header too short")
    head = yield Read(min(body, 32))
    if head[0] == 1:
        if len(head) < 32:
            raise UndecodableImage("movie header too short")
        timescale, duration = struct.unpack_from(">IQ", head, 20)
    else:
        timescale, duration = struct.unpack_from(">II", head, 12)
    yield Skip(body - len(head))
    return timescale, duration


def _tkhd(body: int, track: _Track) -> Parser:
    # Version 0: 40 bytes before the matrix (32-bit times), version 1: 52 (64-bit times).
    head = yield Read(min(body, 96))
    at = 52 if head[0] == 1 else 40
    if len(head) < at + 44:
        raise UndecodableImage("track header too short")
    a, b, _, c, d = struct.unpack_from(">iiiii", head, at)
    quarter = tuple(round(v / 65536) for v in (a, b, c, d))
    track.rotation = _ROTATIONS.get(quarter, 0)  # a skew or a scale: shown as stored
    if not track.width:  # the display size, until the sample entry gives the coded one
        width, height = struct.unpack_from(">II", head, at + 36)
        track.width, track.height = width >> 16, height >> 16
    yield Skip(body - len(head))


def _stsd(body: int, track: _Track) -> Parser:
    # FullBox header and entry count, then the first entry: size, four-cc, 6 reserved bytes,
    # data reference index; a visual entry then has 16 bytes before its width and height.
    need = min(body, 8 + 8 + 8 + 16 + 4)
    head = yield Read(need)
    fourcc = head[12:16]
    track.codec = FOURCC_CODECS.get(fourcc, f"fourcc:{fourcc.decode('latin-1')}")
    if len(head) >= 44 and track.kind == "video":
        track.width, track.height = struct.unpack_from(">HH", head, 40)
    yield Skip(body - need)


def _info(movie: _Movie) -> VideoInfo:
    streams = tuple(
        Stream(t.kind, t.codec or "unknown") for t in movie.tracks if t.kind is not None
    )
    video = next((t for t in movie.tracks if t.kind == "video"), None)
    if video is None:
        return VideoInfo(0, 0, _seconds(movie.duration, movie.timescale), None, 0, streams)
    seconds = _seconds(movie.duration, movie.timescale)
    track_seconds = _seconds(video.duration, video.timescale)
    if seconds is None:
        seconds = track_seconds
    fps = video.timescale / video.frame_delta if video.timescale and video.frame_delta else None
    return VideoInfo(video.width, video.height, seconds, fps, video.rotation, streams)


def _seconds(duration: int, timescale: int) -> float | None:
    # All ones: "unknown" (14496-12 8.2.2.3).
    if not timescale or duration in (0, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
        return None
    return duration / timescale
