"""Render a video: the poster frame a user expects, and a web-playable preview (PyAV).

PyAV (FFmpeg's libraries, in-process, from its wheel: the decoders for H.264, HEVC, AV1, VP9
and the libx264 encoder, no system FFmpeg) reads the spool file the worker wrote; nothing is
held whole in memory: frames are decoded and encoded one at a time.

* :func:`poster_frame`: among the frames of the first :data:`POSTER_SCAN_SECONDS`, the first
  that is not black (a fade-in, a lens cap: mean luma at least :data:`BLACK_LUMA`), else the
  brightest; turned upright by the container's rotation. It goes through the image
  renditions like a photo.
* :func:`transcode`: H.264 (libx264, CRF, a bitrate cap a phone can stream) and AAC in an MP4
  with its index at the front (``movflags=+faststart``: a browser plays before it has it
  all), scaled to fit :attr:`VideoSpec.max_width` x :attr:`VideoSpec.max_height` (1080p),
  turned upright (the rotation applied to the pixels, so every player shows it the same).

An HDR clip (10-bit HLG or PQ) is tone-mapped to SDR BT.709 for both (:mod:`.hdr`): its
frames are scaled by FFmpeg to 16-bit RGB and mapped here; the preview is tagged BT.709.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipeline.domain.errors import ConfigurationError, RenderTimeout, UndecodableImage
from pipeline.domain.models import MOTION
from pipeline.imaging import vips
from pipeline.imaging.hdr import ToneMapper, transfer_of
from pipeline.imaging.spec import PIPELINE_VERSION, VideoRenditionSpec

POSTER_SCAN_SECONDS = 3.0
BLACK_LUMA = 20.0  # mean of 0-255 luma below which a frame reads as black
_BT709 = 1  # AVColorPrimaries, AVColorTransferCharacteristic and AVColorSpace: BT.709
_PROBE_SIDE = 32  # frames are judged on a thumbnail this wide: cheap, and noise averages out


@dataclass(frozen=True)
class _Codec:
    """How one video codec is written: encoder, container, audio, and its own knobs."""

    encoder: str
    container: str  # FFmpeg muxer
    extension: str
    content_type: str
    audio: str
    crf: int  # the encoder's default quality (its own scale)
    preset: str  # the encoder's speed knob, in its own words


CODECS: dict[str, _Codec] = {
    # x264: CRF 0-51; "veryfast" is within 1.1x of the bare encoder's CPU (docs/benchmarks.md).
    "h264": _Codec("libx264", "mp4", "mp4", "video/mp4", "aac", 23, "veryfast"),
    # libvpx-vp9: CRF 0-63 (constrained quality under max_bitrate); preset = cpu-used 0-8.
    "vp9": _Codec("libvpx-vp9", "webm", "webm", "video/webm", "libopus", 33, "5"),
    # SVT-AV1: CRF 1-63 (capped by max_bitrate); preset 0-13, higher is faster.
    "av1": _Codec("libsvtav1", "webm", "webm", "video/webm", "libopus", 35, "8"),
}


@dataclass(frozen=True)
class VideoSpec:
    """The ``video`` rendition: ``codec`` (``h264``: H.264 + AAC in MP4; ``vp9`` or ``av1``:
    with Opus in WebM), at most ``max_width`` x ``max_height`` (either orientation), ``crf``
    (the encoder's quality scale, lower is better; None: its default), ``preset`` (its speed
    knob; None: its default), the video bitrate capped at ``max_bitrate`` bits/s, audio at
    ``audio_bitrate`` bits/s. The index is at the front in either container."""

    name: str = "video"
    codec: str = "h264"
    max_width: int = 1920
    max_height: int = 1080
    crf: int | None = None
    preset: str | None = None
    max_bitrate: int = 5_000_000
    audio_bitrate: int = 128_000

    @property
    def spec_hash(self) -> str:
        """12 hex chars of SHA-256 over every parameter (as a rendition spec's). The default
        spec keeps the hash it had before codecs were configurable (its renditions stay
        current)."""
        fields = dataclasses.asdict(self)
        if self.codec == "h264":
            fields.pop("codec")
        fields["crf"], fields["preset"] = self.quality, self.speed
        canonical = json.dumps({"v": PIPELINE_VERSION, **fields}, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @classmethod
    def from_spec(cls, rendition: VideoRenditionSpec | None) -> VideoSpec:
        """The spec's ``video`` entry (None: the default, H.264 at most 1080p)."""
        if rendition is None:
            return cls()
        return cls(
            codec=rendition.codec,
            max_width=rendition.width,
            max_height=rendition.height,
            crf=rendition.crf,
            preset=rendition.preset,
            max_bitrate=rendition.max_bitrate,
            audio_bitrate=rendition.audio_bitrate,
        )

    @property
    def quality(self) -> int:
        """The CRF the encoder gets: ``crf``, else the codec's default."""
        return CODECS[self.codec].crf if self.crf is None else self.crf

    @property
    def speed(self) -> str:
        """The preset the encoder gets: ``preset``, else the codec's default."""
        return CODECS[self.codec].preset if self.preset is None else self.preset

    @property
    def format(self) -> _Codec:
        """The codec's encoder, container, extension, content type and audio encoder."""
        return CODECS[self.codec]


def video_hashes(spec: VideoSpec) -> dict[str, str]:
    """The spec hash each of the worker's video renditions has under ``spec``: ``video`` (a
    video's preview) and ``motion`` (the video inside a motion photo)."""
    return {spec.name: spec.spec_hash, MOTION: dataclasses.replace(spec, name=MOTION).spec_hash}


def check_encoders(spec: VideoSpec) -> None:
    """Raise :class:`ConfigurationError` at start when this FFmpeg cannot write the spec's
    codec or its audio (a worker that would fail every video otherwise)."""
    for name in (spec.format.encoder, spec.format.audio):
        try:
            av.codec.Codec(name, "w")
        except av.codec.codec.UnknownCodecError as exc:
            raise ConfigurationError(
                f"renditions: video codec {spec.codec} needs the encoder {name}, "
                "which this FFmpeg does not have"
            ) from exc


@dataclass(frozen=True)
class Transcoded:
    """The encoded preview: its size as shown (upright) and its duration."""

    width: int
    height: int
    seconds: float


def poster_frame(path: Path, rotation: int, *, deadline: float | None = None) -> vips.Image:
    """The poster: an sRGB ``vips.Image``, upright. Raises :class:`UndecodableImage` when
    no frame decodes, :class:`RenderTimeout` past ``deadline`` (``time.monotonic``)."""
    best: tuple[float, av.VideoFrame] | None = None
    transfer = None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            transfer = transfer_of(stream)
            for frame in container.decode(stream):
                _check(deadline)
                luma = _mean_luma(frame)
                if best is None or luma > best[0]:
                    best = (luma, frame)
                if luma >= BLACK_LUMA or (frame.time or 0.0) >= POSTER_SCAN_SECONDS:
                    break
    except (av.FFmpegError, IndexError) as exc:
        raise UndecodableImage(
            f"poster: {exc}", public_message="the video cannot be decoded"
        ) from exc
    if best is None:
        raise UndecodableImage("no video frame decodes", public_message="the video has no frames")
    if transfer is not None:
        rgb = ToneMapper(transfer).rgb24(best[1])
    else:
        rgb = np.asarray(best[1].to_ndarray(format="rgb24"), dtype=np.uint8)
    image = vips.Image.new_from_array(rgb, interpretation="srgb")
    return _upright(image, rotation)


def transcode(
    path: Path, out: Path, spec: VideoSpec, rotation: int, *, deadline: float | None = None
) -> Transcoded:
    """Encode the preview of the video at ``path`` into ``out`` (see the module docstring).

    Raises :class:`UndecodableImage` for a stream FFmpeg cannot decode and
    :class:`RenderTimeout` past ``deadline``."""
    form = spec.format
    # The index first, so a browser plays before it has the whole file.
    front = {"movflags": "+faststart"} if form.container == "mp4" else {"cues_to_front": "1"}
    try:
        with (
            av.open(str(path)) as source,
            av.open(str(out), "w", format=form.container, options=front) as target,
        ):
            return _transcode(source, target, spec, rotation, deadline)
    except av.FFmpegError as exc:
        raise UndecodableImage(
            f"transcode: {exc}", public_message="the video cannot be decoded"
        ) from exc


def _transcode(
    source: av.container.InputContainer,
    target: av.container.OutputContainer,
    spec: VideoSpec,
    rotation: int,
    deadline: float | None,
) -> Transcoded:
    video_in = source.streams.video[0]
    video_in.thread_type = "AUTO"
    audio_in = source.streams.audio[0] if source.streams.audio else None
    coded = (video_in.codec_context.width, video_in.codec_context.height)
    width, height = _fit(coded, rotation, spec)
    rate = video_in.average_rate or Fraction(30)
    video_out = target.add_stream(spec.format.encoder, rate=rate, options=_options(spec))
    assert isinstance(video_out, av.VideoStream)  # the encoder's name is not a literal
    if spec.codec == "vp9":
        video_out.bit_rate = spec.max_bitrate  # with crf: constrained quality, at most this
    video_out.width, video_out.height = width, height
    video_out.pix_fmt = "yuv420p"
    transfer = transfer_of(video_in)
    mapper = ToneMapper(transfer) if transfer is not None else None
    if mapper is not None:  # say what the pixels are now: SDR BT.709, not the source's HDR
        codec = video_out.codec_context
        codec.color_primaries = codec.color_trc = codec.colorspace = _BT709
    graph = _filters(video_in, rotation, width, height, hdr=mapper is not None)
    audio_out: av.AudioStream | None = None
    resampler: av.AudioResampler | None = None
    if audio_in is not None:
        added = target.add_stream(spec.format.audio, rate=48000)
        assert isinstance(added, av.AudioStream)
        audio_out = added
        audio_out.bit_rate = spec.audio_bitrate
        audio_out.layout = "stereo"
        # Each encoder's own sample format (AAC: planar float; Opus: interleaved float).
        formats = audio_out.codec_context.codec.audio_formats or []
        sample = formats[0].name if formats else "fltp"
        resampler = av.AudioResampler(format=sample, layout="stereo", rate=48000)
    streams = [video_in] + ([audio_in] if audio_in is not None else [])
    last = 0.0
    for packet in source.demux(streams):
        _check(deadline)
        for frame in packet.decode():
            if isinstance(frame, av.VideoFrame):
                last = max(last, frame.time or 0.0)
                graph.push(frame)
                _drain(graph, target, video_out, mapper)
            elif audio_out is not None and resampler is not None:
                assert isinstance(frame, av.AudioFrame)
                for converted in resampler.resample(frame):
                    target.mux(audio_out.encode(converted))
    graph.push(None)
    _drain(graph, target, video_out, mapper)
    target.mux(video_out.encode(None))
    if audio_out is not None:
        target.mux(audio_out.encode(None))
    return Transcoded(width, height, last)


def _options(spec: VideoSpec) -> dict[str, str]:
    """The encoder's options for the spec's quality, speed and bitrate cap."""
    crf, preset = str(spec.quality), spec.speed
    if spec.codec == "vp9":
        return {"crf": crf, "cpu-used": preset, "deadline": "good", "row-mt": "1"}
    if spec.codec == "av1":
        return {"crf": crf, "preset": preset, "svtav1-params": f"mbr={spec.max_bitrate // 1000}"}
    return {
        "crf": crf,
        "preset": preset,
        "maxrate": str(spec.max_bitrate),
        "bufsize": str(spec.max_bitrate * 2),
        "profile": "high",
    }


def _filters(
    stream: av.VideoStream, rotation: int, width: int, height: int, *, hdr: bool = False
) -> av.filter.Graph:
    """Turn upright, scale, convert: to ``yuv420p``, or for HDR to 16-bit RGB (still the
    source's BT.2020 signal) for the tone mapper."""
    graph = av.filter.Graph()
    nodes = [graph.add_buffer(template=stream)]
    turn = {90: ["transpose=clock"], 180: ["hflip", "vflip"], 270: ["transpose=cclock"]}
    pixels = "format=rgb48le" if hdr else "format=yuv420p"
    for description in [*turn.get(rotation, []), f"scale={width}:{height}", pixels]:
        name, _, args = description.partition("=")
        nodes.append(graph.add(name, args or None))
    nodes.append(graph.add("buffersink"))
    graph.link_nodes(*nodes).configure()
    return graph


def _drain(
    graph: av.filter.Graph,
    target: av.container.OutputContainer,
    out: av.VideoStream,
    mapper: ToneMapper | None = None,
) -> None:
    while True:
        try:
            frame = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return
        assert isinstance(frame, av.VideoFrame)
        if mapper is not None:
            frame = mapper.frame(frame)
        frame.pict_type = av.video.frame.PictureType.NONE  # let the encoder choose
        target.mux(out.encode(frame))


def _fit(coded: tuple[int, int], rotation: int, spec: VideoSpec) -> tuple[int, int]:
    """Upright size within the box (either orientation), never enlarged, even sides (4:2:0)."""
    width, height = (coded[1], coded[0]) if rotation in (90, 270) else coded
    box = (
        (spec.max_width, spec.max_height) if width >= height else (spec.max_height, spec.max_width)
    )
    scale = min(1.0, box[0] / width, box[1] / height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _mean_luma(frame: av.VideoFrame) -> float:
    height = max(1, _PROBE_SIDE * frame.height // max(frame.width, 1))
    small = frame.reformat(width=_PROBE_SIDE, height=height, format="gray")
    return float(np.asarray(small.to_ndarray(), dtype=np.float32).mean())


def _upright(image: vips.Image, rotation: int) -> vips.Image:
    turns = {90: "d90", 180: "d180", 270: "d270"}
    return image.rot(turns[rotation]) if rotation in turns else image


def _check(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise RenderTimeout(
            "video render deadline passed", public_message="rendering took too long"
        )
