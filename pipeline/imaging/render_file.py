"""Render the original in a file: a photo through :func:`~.render.render_image`, a video
through its poster frame and preview (:mod:`.video`), a motion photo as a photo plus the
``motion`` rendition made from the video inside it (:mod:`.motion`).

The type comes from the file's first bytes (the same sniffer as the ingest gate). A photo is
read whole (photos are bounded by ``max_upload_bytes``); a video is never held whole: its
header is scanned in chunks, frames are decoded one at a time, and the preview is written to
:func:`preview_path` beside the original (the worker's spool removes both).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av

from pipeline.domain.errors import ImageRejected, InputError
from pipeline.imaging import motion
from pipeline.imaging.hdr import transfer_of
from pipeline.imaging.render import (
    RenderedRendition,
    RenderResult,
    render_from_master,
    render_image,
)
from pipeline.imaging.scan import HeaderScanner, ImageHeader
from pipeline.imaging.scan.sniff import SNIFF_BYTES, VIDEO_FORMATS, sniff
from pipeline.imaging.spec import RenditionSpec
from pipeline.imaging.video import Transcoded, VideoSpec, poster_frame, transcode
from pipeline.runtime.settings import LimitsSettings

_CHUNK = 1024 * 1024
# Container tags phones write: capture time, and the camera (QuickTime keys, Android's).
_CAPTURE_TAGS = ("com.apple.quicktime.creationdate", "creation_time")
_MAKE_TAGS = ("com.apple.quicktime.make", "make", "com.android.manufacturer")
_MODEL_TAGS = ("com.apple.quicktime.model", "model", "com.android.model")
# What links an Apple live photo's video to its still (the still's maker note has it too).
_CONTENT_ID_TAGS = ("com.apple.quicktime.content.identifier",)


def preview_path(original: Path) -> Path:
    """Where a video's preview is written: beside the original, its name extended."""
    return original.with_name(original.name + ".video.mp4")


def is_video(original: Path) -> bool:
    """The file's first bytes say MP4, QuickTime, 3GP, WebM or Matroska."""
    with original.open("rb") as file:
        found = sniff(file.read(SNIFF_BYTES))
    return found is not None and found[0] in VIDEO_FORMATS


def render_file(
    original: Path,
    spec: Sequence[RenditionSpec],
    limits: LimitsSettings,
    *,
    video: VideoSpec,
    store_gps: bool = False,
    deadline: float | None = None,
) -> RenderResult:
    """Every rendition of the original at ``original`` (and, for a video, the ``video``
    rendition, in :func:`preview_path`). Raises what :func:`render_image` raises; a video
    also :class:`~pipeline.domain.errors.VideoTooLong`,
    :class:`~pipeline.domain.errors.TooManyStreams` and 415 for an undecodable codec."""
    if not is_video(original):
        data = original.read_bytes()
        photo = render_image(data, spec, limits, store_gps=store_gps, deadline=deadline)
        return with_motion(photo, original, data, limits, video=video, deadline=deadline)
    return render_video(original, spec, limits, video=video, deadline=deadline)


def with_motion(
    photo: RenderResult,
    original: Path,
    data: bytes,
    limits: LimitsSettings,
    *,
    video: VideoSpec,
    deadline: float | None = None,
) -> RenderResult:
    """``photo`` plus the ``motion`` rendition when ``data`` embeds a video (media
    ``motion``, metadata ``motion``: source and duration). A motion part that is broken,
    over the limits or undecodable leaves ``photo`` as it is, with ``motion_error`` saying
    why: the still is never lost to its video."""
    try:
        found = motion.find_embedded(data)
        if found is None:
            return photo
        clip = original.with_name(original.name + ".motion-source.mp4")
        clip.write_bytes(data[found.offset : found.offset + found.length])
        info = _scan(clip, limits).video
        assert info is not None
        seconds = info.duration_seconds or 0.0
        if seconds > limits.max_motion_seconds:
            raise motion.BrokenMotion(
                f"the motion part lasts {seconds:.0f} s, over "
                f"{limits.max_motion_seconds:.0f} s (GALLERY_LIMITS_MAX_MOTION_SECONDS)"
            )
        spec = dataclasses.replace(video, name=motion.NAME)
        rendition, done = _preview(clip, preview_path(original), spec, info.rotation, deadline)
    except motion.BrokenMotion as exc:
        return _noted(photo, str(exc))
    except InputError as exc:  # over a limit, an unknown codec, undecodable, too slow
        return _noted(photo, f"the motion part: {exc.public_message}")
    finally:
        original.with_name(original.name + ".motion-source.mp4").unlink(missing_ok=True)
    metadata = dict(photo.metadata)
    metadata["motion"] = {
        "source": found.source,
        "duration_seconds": round(info.duration_seconds or done.seconds, 3),
        "video_codec": info.video_codec,
    }
    return dataclasses.replace(
        photo,
        metadata=metadata,
        renditions=(*photo.renditions, rendition),
        media="motion",
    )


def _noted(photo: RenderResult, why: str) -> RenderResult:
    # Shown by the web UI and printed by the CLI: short and printable.
    return dataclasses.replace(
        photo, metadata={**photo.metadata, "motion_error": _printable(why)[:200]}
    )


def render_video(
    original: Path,
    spec: Sequence[RenditionSpec],
    limits: LimitsSettings,
    *,
    video: VideoSpec,
    deadline: float | None = None,
) -> RenderResult:
    """Poster renditions (as a photo's) plus the preview; sizes are the upright frame's."""
    header = _scan(original, limits)
    info = header.video
    assert info is not None
    started = time.perf_counter()
    poster = poster_frame(original, info.rotation, deadline=deadline)
    decode_seconds = time.perf_counter() - started
    thumbhash, renditions = render_from_master(poster, spec, limits, deadline=deadline)
    preview, done = _preview(original, preview_path(original), video, info.rotation, deadline)
    metadata: dict[str, object] = {
        "duration_seconds": info.duration_seconds or done.seconds,
        "fps": info.fps,
        "video_codec": info.video_codec,
        "audio_codec": info.audio_codec,
        "rotation": info.rotation,
        **_container_tags(original),
    }
    return RenderResult(
        width=poster.width,
        height=poster.height,
        frames=1,
        metadata=metadata,
        thumbhash=thumbhash,
        renditions=(*renditions, preview),
        decode_seconds=decode_seconds,
        media="video",
    )


def _preview(
    source: Path, out: Path, video: VideoSpec, rotation: int, deadline: float | None
) -> tuple[RenderedRendition, Transcoded]:
    """Transcode ``source`` into ``out``: the rendition named ``video.name``, in a file."""
    started = time.perf_counter()
    try:
        done = transcode(source, out, video, rotation, deadline=deadline)
    except ImageRejected:
        out.unlink(missing_ok=True)  # no half-written preview left for the next step
        raise
    rendition = RenderedRendition(
        name=video.name,
        spec_hash=video.spec_hash,
        data=b"",
        width=done.width,
        height=done.height,
        extension=video.format.extension,
        content_type=video.format.content_type,
        seconds=time.perf_counter() - started,
        path=str(out),
    )
    return rendition, done


def _scan(original: Path, limits: LimitsSettings) -> ImageHeader:
    """The worker's second check of the header, streamed: never the whole file in memory."""
    scanner = HeaderScanner(limits, videos=True)
    with original.open("rb") as file:
        while chunk := file.read(_CHUNK):
            scanner.feed(chunk)
    return scanner.finish()


def _container_tags(original: Path) -> dict[str, Any]:
    with av.open(str(original)) as container:
        tags = {k.lower(): v for k, v in container.metadata.items()}
        video = container.streams.video
        # An HDR source ("hlg" or "pq"): its poster and preview are tone-mapped to SDR.
        hdr = transfer_of(video[0]) if video else None
    found: dict[str, Any] = {"capture_time": None, "hdr": hdr}
    for key, names in (
        ("capture_time", _CAPTURE_TAGS),
        ("make", _MAKE_TAGS),
        ("model", _MODEL_TAGS),
        ("content_identifier", _CONTENT_ID_TAGS),
    ):
        value = next((tags[n] for n in names if tags.get(n)), None)
        if value is not None:
            found[key] = _printable(str(value))[:100]
    return found


def _printable(text: str) -> str:
    """Control characters dropped: tags are shown by the web UI and printed by the CLI."""
    return "".join(c for c in text if c.isprintable())
