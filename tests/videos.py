"""Small phone-like clips made at test time with FFmpeg's encoders (PyAV), and byte surgery
on MP4 boxes for the odd and hostile cases (a rotation matrix, a huge frame claim...)."""

from __future__ import annotations

import io
import struct
from fractions import Fraction

import av
import numpy as np

# Container name for PyAV -> the formats the tests make.
FORMATS = {"mp4": "mp4", "mov": "mov", "webm": "webm", "mkv": "matroska", "3gp": "3gp"}


def clip(
    container: str = "mp4",
    video: str | None = "libx264",
    audio: str | None = "aac",
    *,
    width: int = 64,
    height: int = 48,
    seconds: float = 1.0,
    fps: int = 10,
    audio_streams: int = 1,
    noise: bool = False,
    black_seconds: float = 0.0,
    tags: dict[str, str] | None = None,
) -> bytes:
    """A clip of moving colour bars (and a tone) in ``container``; ``video=None`` makes an
    audio-only file; ``noise`` makes frames that do not compress (a large ``mdat``);
    ``black_seconds`` starts it with black frames (a fade-in, a lens cap); ``tags`` are
    container metadata (QuickTime ``mdta`` keys in MP4/MOV, as iPhones write them). PyAV's
    MP4 muxer writes ``moov`` after ``mdat`` (no faststart)."""
    rng = np.random.default_rng(7)
    out = io.BytesIO()
    options = {"movflags": "use_metadata_tags"} if tags else {}
    with av.open(out, "w", format=FORMATS[container], options=options) as muxer:
        muxer.metadata.update(tags or {})
        vstream = None
        if video is not None:
            vstream = muxer.add_stream(video, rate=fps)
            vstream.width, vstream.height = width, height
            vstream.pix_fmt = "yuv420p"
        astreams = []
        if audio is not None:
            for _ in range(audio_streams):
                stream = muxer.add_stream(audio, rate=48000)
                stream.layout = "mono"
                astreams.append(stream)
        frames = max(1, round(seconds * fps))
        if vstream is not None:
            for index in range(frames):
                if index < black_seconds * fps:
                    image = np.zeros((height, width, 3), dtype=np.uint8)
                elif noise:
                    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                else:
                    image = _bars(width, height, index)
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = index
                frame.time_base = Fraction(1, fps)
                muxer.mux(vstream.encode(frame))
            muxer.mux(vstream.encode(None))
        for stream in astreams:
            _tone(muxer, stream, seconds)
    return out.getvalue()


def _bars(width: int, height: int, index: int) -> np.ndarray:
    x = (np.arange(width)[None, :, None] + index * 4) % 256
    y = np.arange(height)[:, None, None] * 255 // max(height - 1, 1)
    return np.concatenate(
        [
            np.broadcast_to(x, (height, width, 1)),
            np.broadcast_to(y, (height, width, 1)),
            np.full((height, width, 1), 128),
        ],
        axis=2,
    ).astype(np.uint8)


def _tone(muxer: av.container.OutputContainer, stream: av.AudioStream, seconds: float) -> None:
    rate = 48000
    samples_per_frame = stream.codec_context.frame_size or 1024
    total = int(seconds * rate)
    fmt = stream.codec_context.format.name
    for start in range(0, total, samples_per_frame):
        t = np.arange(start, start + samples_per_frame) / rate
        wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(wave, format="flt", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for converted in _resampled(frame, fmt):
            muxer.mux(stream.encode(converted))
    muxer.mux(stream.encode(None))


def _resampled(frame: av.AudioFrame, fmt: str) -> list[av.AudioFrame]:
    if fmt == "flt":
        return [frame]
    resampler = av.AudioResampler(format=fmt, layout="mono", rate=48000)
    return list(resampler.resample(frame))


# --- byte surgery on MP4 boxes -----------------------------------------------------------


def find_box(data: bytes, box: bytes, start: int = 0) -> int:
    """Offset of the first ``box`` header (its size field) at or after ``start``."""
    at = data.index(box, start) - 4
    assert at >= 0
    return at


def rotate(data: bytes, degrees: int) -> bytes:
    """Set the video track's display matrix (tkhd, version 0) to a clockwise quarter turn."""
    matrices = {90: (0, 1, -1, 0), 180: (-1, 0, 0, -1), 270: (0, -1, 1, 0)}
    a, b, c, d = (v << 16 for v in matrices[degrees])
    at = find_box(data, b"tkhd") + 8 + 40
    patched = bytearray(data)
    struct.pack_into(">iiiii", patched, at, a, b, 0, c, d)
    return bytes(patched)


def claim_frame(data: bytes, width: int, height: int) -> bytes:
    """Make the first visual sample entry (stsd) claim ``width`` x ``height`` (at most 65535)."""
    at = find_box(data, b"stsd") + 8 + 8 + 8 + 8 + 16
    patched = bytearray(data)
    struct.pack_into(">HH", patched, at, width, height)
    return bytes(patched)


def claim_duration(data: bytes, seconds: int) -> bytes:
    """Make mvhd (version 0) claim ``seconds``."""
    at = find_box(data, b"mvhd") + 8
    patched = bytearray(data)
    timescale = struct.unpack_from(">I", patched, at + 12)[0]
    struct.pack_into(">I", patched, at + 16, seconds * timescale)
    return bytes(patched)


def rename_codec(data: bytes, old: bytes, new: bytes) -> bytes:
    """Rename the sample entry four-cc ``old`` (inside stsd) to ``new``."""
    at = data.index(old, find_box(data, b"stsd"))
    return data[:at] + new + data[at + 4 :]


# --- motion photos -------------------------------------------------------------------------

_XMP_NAMESPACE = b"http://ns.adobe.com/xap/1.0/\x00"


def google_motion_photo(jpeg: bytes, video: bytes, *, micro: bool = False) -> bytes:
    """A Google Motion Photo: ``jpeg`` with an XMP packet saying where ``video`` (appended
    after the image) starts: ``Container:Directory`` (current) or ``MicroVideoOffset`` (old)."""
    if micro:
        fields = f'GCamera:MicroVideo="1" GCamera:MicroVideoOffset="{len(video)}"'
        directory = ""
    else:
        fields = 'GCamera:MotionPhoto="1" GCamera:MotionPhotoVersion="1"'
        directory = (
            "<Container:Directory><rdf:Seq>"
            '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" '
            'Item:Semantic="Primary" Item:Length="0" Item:Padding="0"/></rdf:li>'
            '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="video/mp4" '
            f'Item:Semantic="MotionPhoto" Item:Length="{len(video)}" Item:Padding="0"/></rdf:li>'
            "</rdf:Seq></Container:Directory>"
        )
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:GCamera="http://ns.google.com/photos/1.0/camera/" '
        'xmlns:Container="http://ns.google.com/photos/1.0/container/" '
        f'xmlns:Item="http://ns.google.com/photos/1.0/container/item/" {fields}>'
        f"{directory}</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()
    payload = _XMP_NAMESPACE + xmp
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + segment + jpeg[2:] + video


def samsung_motion_photo(jpeg: bytes, video: bytes) -> bytes:
    """A Samsung motion photo: ``video`` after the marker ``MotionPhoto_Data`` in the trailer
    behind the JPEG, then Samsung's SEF index (here a stand-in of its framing)."""
    sef = b"SEFH" + struct.pack("<III", 107, 1, 0) + b"\x00" * 12 + b"SEFT"
    return jpeg + b"MotionPhoto_Data" + video + sef


# --- HDR -----------------------------------------------------------------------------------

# Signal levels (0-1) of HDR grey patches: HLG's and PQ's reference white (203 nits, ITU-R
# BT.2408), a 1000-nit highlight, and a dim 5 nits.
HDR_LEVELS = {
    "hlg": {"white": 0.75, "highlight": 1.0, "dim": 0.17},
    "pq": {"white": 0.58, "highlight": 0.75, "dim": 0.25},
}
_TRC = {"hlg": 18, "pq": 16}
_BT2020 = 9


def hdr_clip(
    transfer: str, *, width: int = 96, height: int = 64, seconds: float = 1.0, fps: int = 10
) -> bytes:
    """A 10-bit HEVC MP4 tagged BT.2020 with the ``transfer`` (``hlg`` or ``pq``) curve,
    like a phone's HDR clip: three vertical grey patches at :data:`HDR_LEVELS` (white,
    highlight, dim from left to right)."""
    levels = HDR_LEVELS[transfer]
    luma = np.empty((height, width), dtype=np.float64)
    third = width // 3
    luma[:, :third] = levels["white"]
    luma[:, third : 2 * third] = levels["highlight"]
    luma[:, 2 * third :] = levels["dim"]
    y = np.round(64 + 876 * luma).astype(np.uint16)  # 10-bit limited range
    chroma = np.full((height // 2, width), 512, dtype=np.uint16)  # grey: Cb = Cr = mid
    planes = np.concatenate([y, chroma.reshape(height // 2, width)], axis=0)
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as muxer:
        stream = muxer.add_stream("libx265", rate=fps, options={"x265-params": "log-level=error"})
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p10le"
        codec = stream.codec_context
        codec.color_primaries = codec.colorspace = _BT2020
        codec.color_trc = _TRC[transfer]
        for index in range(max(1, round(seconds * fps))):
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p10le")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            muxer.mux(stream.encode(frame))
        muxer.mux(stream.encode(None))
    return out.getvalue()
