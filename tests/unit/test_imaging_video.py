"""Video renders: the poster a user expects and a web-playable, upright, bounded preview."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.domain.errors import ConfigurationError, UndecodableImage
from pipeline.imaging.render_file import preview_path
from pipeline.imaging.scan import scan_header
from pipeline.imaging.spec import DEFAULT_SPEC
from pipeline.imaging.video import VideoSpec, check_encoders, poster_frame, transcode
from pipeline.runtime.settings import LimitsSettings
from pipeline.services.process_renderer import ProcessRenderer
from tests import videos

pytestmark = pytest.mark.unit
SMALL = VideoSpec(max_width=160, max_height=90)


def test_the_poster_skips_a_black_fade_in(on_disk: Callable[[bytes], Path]) -> None:
    path = on_disk(videos.clip("mp4", width=96, height=64, seconds=2, fps=10, black_seconds=1))
    poster = poster_frame(path, 0)
    assert (poster.width, poster.height) == (96, 64)
    assert poster.avg() > 40  # the first bars, not the black frames before them


def test_the_poster_of_a_clip_that_is_all_black_is_still_a_frame(
    on_disk: Callable[[bytes], Path],
) -> None:
    path = on_disk(videos.clip("mp4", width=64, height=48, seconds=1, black_seconds=5))
    assert poster_frame(path, 0).width == 64


def test_the_poster_of_a_rotated_portrait_clip_is_upright(
    on_disk: Callable[[bytes], Path],
) -> None:
    path = on_disk(videos.rotate(videos.clip("mov", "libx264", "aac", width=96, height=64), 90))
    poster = poster_frame(path, 90)
    assert (poster.width, poster.height) == (64, 96)


@pytest.mark.parametrize(
    ("container", "video", "audio"),
    [
        ("mov", "libx265", "aac"),
        ("webm", "libvpx-vp9", "libopus"),
        ("mkv", "libsvtav1", "libopus"),
        ("3gp", "libx264", "aac"),
    ],
)
def test_the_preview_is_h264_aac_mp4_with_its_index_first(
    container: str, video: str, audio: str, on_disk: Callable[[bytes], Path], tmp_path: Path
) -> None:
    path = on_disk(videos.clip(container, video, audio, width=128, height=96, seconds=2))
    out = tmp_path / "preview.mp4"
    done = transcode(path, out, SMALL, 0)
    data = out.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: playable while loading
    header = scan_header(data, LimitsSettings(), videos=True)
    assert header.video is not None
    assert [s.codec for s in header.video.streams] == ["h264", "aac"]
    assert (header.width, header.height) == (done.width, done.height) == (120, 90)
    assert header.video.duration_seconds == pytest.approx(2.0, abs=0.2)


def test_the_preview_of_a_rotated_clip_is_upright_and_fits_the_box(
    on_disk: Callable[[bytes], Path], tmp_path: Path
) -> None:
    path = on_disk(videos.rotate(videos.clip("mp4", width=320, height=240), 90))
    out = tmp_path / "preview.mp4"
    done = transcode(path, out, SMALL, 90)
    header = scan_header(out.read_bytes(), LimitsSettings(), videos=True)
    assert header.video is not None
    assert header.video.rotation == 0  # the turn is in the pixels now
    # Portrait: the 160x90 box turned too (1080p portrait is 1080x1920).
    assert (done.width, done.height) == (header.width, header.height) == (90, 120)


def test_a_small_clip_is_never_enlarged_and_a_silent_one_stays_silent(
    on_disk: Callable[[bytes], Path], tmp_path: Path
) -> None:
    path = on_disk(videos.clip("mp4", audio=None, width=64, height=48))
    out = tmp_path / "preview.mp4"
    done = transcode(path, out, VideoSpec(), 0)
    assert (done.width, done.height) == (64, 48)
    header = scan_header(out.read_bytes(), LimitsSettings(), videos=True)
    assert header.video is not None
    assert [s.kind for s in header.video.streams] == ["video"]


def test_undecodable_data_is_a_clear_error(
    on_disk: Callable[[bytes], Path], tmp_path: Path
) -> None:
    data = videos.clip("mp4", seconds=1)
    broken = on_disk(data[: len(data) // 3])  # no moov: nothing to decode
    with pytest.raises(UndecodableImage):
        poster_frame(broken, 0)
    with pytest.raises(UndecodableImage):
        transcode(broken, tmp_path / "preview.mp4", SMALL, 0)


async def test_a_sandboxed_render_child_renders_a_video_file(
    on_disk: Callable[[bytes], Path],
) -> None:
    clip = videos.clip("webm", "libvpx-vp9", "libopus", width=96, height=64, seconds=1)
    path = on_disk(clip)
    async with ProcessRenderer(
        DEFAULT_SPEC, LimitsSettings(), store_gps=False, slots=1, video=SMALL
    ) as renderer:
        result = await renderer.render(path)
    assert result.media == "video"
    assert [r.name for r in result.renditions] == ["thumb", "preview", "large", "video"]
    preview = result.renditions[-1]
    assert preview.path == str(preview_path(path))  # the path the parent named
    header = scan_header(preview_path(path).read_bytes(), LimitsSettings(), videos=True)
    assert header.video is not None
    assert [s.codec for s in header.video.streams] == ["h264", "aac"]
    assert result.metadata["video_codec"] == "vp9"
    assert result.metadata["duration_seconds"] == pytest.approx(1.0, abs=0.1)


def _patches(rgb: np.ndarray) -> tuple[int, int, int]:
    """Mean grey of the white, highlight and dim patches of :func:`videos.hdr_clip`."""
    row = rgb[rgb.shape[0] // 2]
    third = row.shape[0] // 3
    parts = (row[4 : third - 4], row[third + 4 : 2 * third - 4], row[2 * third + 4 : -4])
    return tuple(int(part.mean()) for part in parts)  # type: ignore[return-value]


@pytest.mark.parametrize("transfer", ["hlg", "pq"])
def test_an_hdr_clip_is_tone_mapped_to_sdr_in_poster_and_preview(
    transfer: str, on_disk: Callable[[bytes], Path], tmp_path: Path
) -> None:
    path = on_disk(videos.hdr_clip(transfer))
    poster = poster_frame(path, 0)
    still = np.ndarray(
        buffer=poster.write_to_memory(),
        dtype=np.uint8,
        shape=(poster.height, poster.width, poster.bands),
    )
    out = tmp_path / "preview.mp4"
    transcode(path, out, SMALL, 0)
    with av.open(str(out)) as played:
        stream = played.streams.video[0]
        # Tagged as what it now is: 8-bit SDR BT.709, not the source's HDR curve.
        codec = stream.codec_context
        assert (codec.pix_fmt, codec.color_trc, codec.color_primaries) == ("yuv420p", 1, 1)
        moving = next(played.decode(stream)).to_ndarray(format="rgb24")
    for rgb in (still, moving):
        white, highlight, dim = _patches(rgb)
        # HDR's reference white reads as near SDR white (without tone mapping: 148 for PQ,
        # 191 for HLG, a grey), a 1000-nit highlight is the brightest without a hard edge,
        # 5 nits stays dark (without: 64 for PQ).
        assert 225 <= white < highlight
        assert highlight >= 250
        assert dim <= 40


@pytest.mark.parametrize(("codec", "names"), [("vp9", ["vp9", "opus"]), ("av1", ["av1", "opus"])])
def test_the_preview_in_vp9_or_av1_is_webm_with_its_index_first(
    codec: str, names: list[str], on_disk: Callable[[bytes], Path], tmp_path: Path
) -> None:
    path = on_disk(videos.clip("mov", "libx264", "aac", width=128, height=96, seconds=2))
    out = tmp_path / "preview.webm"
    spec = VideoSpec(codec=codec, max_width=160, max_height=90)
    done = transcode(path, out, spec, 0)
    assert (done.width, done.height) == (120, 90)
    header = scan_header(out.read_bytes(), LimitsSettings(), videos=True)
    assert header.mime == "video/webm"
    assert header.video is not None
    assert [s.codec for s in header.video.streams] == names
    data = out.read_bytes()
    # Cues (the seek index) before the first Cluster: a browser seeks before it has it all.
    assert 0 < data.index(b"\x1c\x53\xbb\x6b") < data.index(b"\x1f\x43\xb6\x75")


def test_a_codec_this_ffmpeg_cannot_write_fails_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipeline.imaging import video as module

    for codec in module.CODECS:
        check_encoders(VideoSpec(codec=codec))  # the wheel writes all three
    missing = dataclasses.replace(module.CODECS["vp9"], encoder="libnosuchvp9")
    monkeypatch.setitem(module.CODECS, "vp9", missing)
    with pytest.raises(ConfigurationError, match="libnosuchvp9"):
        check_encoders(VideoSpec(codec="vp9"))
