"""Benchmark the video preview against the bare encoder: CPU seconds per second of video.

Both encode the same phone-like clip (made here with libx264, 30 fps, AAC) with the same
settings (libx264 CRF 23 ``veryfast``, the bitrate cap, AAC 128 kbit/s, the same size):

* ``pipeline`` - :func:`pipeline.imaging.video.transcode` (filter graph, rotation, faststart);
* ``bare``     - the shortest PyAV loop that does the same: decode, ``reformat`` to the size,
  encode, mux (no faststart rewrite).

With ``--hdr hlg`` or ``--hdr pq`` the clip is a 10-bit HEVC HDR clip without audio: the
pipeline tone-maps it to SDR (:mod:`pipeline.imaging.hdr`), the bare loop converts it to
8 bits as it is (the washed-out picture the tone mapping prevents), so the ratio is the cost
of the tone mapping.

CPU time is ``time.process_time()`` (every FFmpeg thread counted); each is run ``--repeat``
times, interleaved. Usage:
``python -m bench.video [--seconds 4] [--size 1280x720] [--hdr hlg|pq]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

from pipeline.imaging.video import VideoSpec, _fit, transcode
from tests import videos

SPEC = VideoSpec()


def bare(source: Path, out: Path) -> None:
    with av.open(str(source)) as src, av.open(str(out), "w", format="mp4") as dst:
        vin = src.streams.video[0]
        ain = src.streams.audio[0] if src.streams.audio else None
        width, height = _fit((vin.codec_context.width, vin.codec_context.height), 0, SPEC)
        vout = dst.add_stream(
            "libx264",
            rate=vin.average_rate or Fraction(30),
            options={
                "crf": str(SPEC.quality),
                "preset": SPEC.speed,
                "maxrate": str(SPEC.max_bitrate),
                "bufsize": str(SPEC.max_bitrate * 2),
                "profile": "high",
            },
        )
        vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
        aout = dst.add_stream("aac", rate=48000)
        aout.bit_rate = SPEC.audio_bitrate
        aout.layout = "stereo"
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)
        for packet in src.demux([vin, *([ain] if ain is not None else [])]):
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    scaled = frame.reformat(width=width, height=height, format="yuv420p")
                    scaled.pict_type = av.video.frame.PictureType.NONE
                    dst.mux(vout.encode(scaled))
                else:
                    for converted in resampler.resample(frame):
                        dst.mux(aout.encode(converted))
        dst.mux(vout.encode(None))
        if ain is not None:
            dst.mux(aout.encode(None))


def pipeline(source: Path, out: Path) -> None:
    transcode(source, out, SPEC, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description="Video preview vs bare encoder CPU benchmark")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hdr", choices=["hlg", "pq"], default=None)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    folder = Path(tempfile.mkdtemp(prefix="bench-video-"))
    source = folder / "clip.mp4"
    if args.hdr:
        made = videos.hdr_clip(args.hdr, width=width, height=height, seconds=args.seconds, fps=30)
    else:
        made = videos.clip("mp4", width=width, height=height, seconds=args.seconds, fps=30)
    source.write_bytes(made)
    samples: dict[str, list[float]] = {"pipeline": [], "bare": []}
    for _ in range(args.repeat):
        for name, method in (("pipeline", pipeline), ("bare", bare)):
            started = time.process_time()
            method(source, folder / f"{name}.mp4")
            samples[name].append((time.process_time() - started) / args.seconds)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(
        json.dumps(
            {
                "clip": f"{args.size} {args.seconds:g} s 30 fps "
                + (f"HEVC 10-bit {args.hdr.upper()}" if args.hdr else "H.264 + AAC"),
                "cpu_seconds_per_video_second": medians,
                "pipeline_vs_bare": medians["pipeline"] / medians["bare"],
                "samples": samples,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
