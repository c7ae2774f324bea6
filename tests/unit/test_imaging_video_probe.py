"""The video header probe: type from the bytes, duration, frame size, codecs and rotation from
a bounded streamed read, each limit refusing with a clear error; clips made by the encoder."""

from __future__ import annotations

import random

import av
import pytest

from pipeline.domain.errors import (
    ImageTooLarge,
    InputError,
    TooManyStreams,
    UndecodableImage,
    UnsupportedMediaType,
    UploadTooLarge,
    VideoTooLong,
)
from pipeline.imaging.scan import BUFFER_BOUND, HeaderScanner, ImageHeader, scan_header
from pipeline.imaging.scan.video import DECODABLE_AUDIO, DECODABLE_VIDEO
from pipeline.runtime.settings import LimitsSettings
from pipeline.services.tus_check import HeadCheck
from tests import images, videos

pytestmark = pytest.mark.unit
LIMITS = LimitsSettings()


def _scan(data: bytes, limits: LimitsSettings = LIMITS, chunk: int = 4096) -> ImageHeader:
    """Feed as an upload arrives: in chunks, never the whole file at once."""
    scanner = HeaderScanner(limits, videos=True)
    for start in range(0, len(data), chunk):
        scanner.feed(data[start : start + chunk])
        assert scanner.buffered_bytes <= BUFFER_BOUND
    return scanner.finish()


@pytest.mark.parametrize(
    ("container", "video", "audio", "mime", "codecs"),
    [
        ("mp4", "libx264", "aac", "video/mp4", ["h264", "aac"]),
        ("mov", "libx265", "aac", "video/quicktime", ["hevc", "aac"]),
        ("mp4", "libsvtav1", "aac", "video/mp4", ["av1", "aac"]),
        ("webm", "libvpx-vp9", "libopus", "video/webm", ["vp9", "opus"]),
        ("webm", "libsvtav1", "libopus", "video/webm", ["av1", "opus"]),
        ("mkv", "libx264", "libopus", "video/x-matroska", ["h264", "opus"]),
        ("3gp", "libx264", "aac", "video/3gpp", ["h264", "aac"]),
    ],
)
def test_each_container_and_codec_is_probed_from_its_bytes(
    container: str, video: str, audio: str, mime: str, codecs: list[str]
) -> None:
    data = videos.clip(container, video, audio, width=96, height=64, seconds=2, fps=10)
    header = _scan(data)
    assert header.mime == mime
    assert (header.width, header.height) == (96, 64)
    assert header.video is not None
    assert header.video.duration_seconds == pytest.approx(2.0, abs=0.1)
    assert header.video.fps == pytest.approx(10.0)
    assert [s.codec for s in header.video.streams] == codecs
    assert header.video.rotation == 0


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_a_rotated_phone_clip_reports_its_quarter_turn(degrees: int) -> None:
    data = videos.rotate(videos.clip("mp4", width=96, height=64), degrees)
    header = scan_header(data, LIMITS, videos=True)
    assert header.video is not None
    assert header.video.rotation == degrees
    assert (header.width, header.height) == (96, 64)  # coded size; the turn is applied later


def test_moov_after_a_large_mdat_is_found_holding_a_bounded_buffer() -> None:
    # PyAV writes moov after mdat; 3 MB of frames (noise does not compress) pass unheld.
    data = videos.clip("mp4", width=320, height=240, seconds=3, fps=30, noise=True)
    assert data.index(b"moov") > 1_000_000
    header = _scan(data, chunk=65536)
    assert header.video is not None
    assert header.video.duration_seconds == pytest.approx(3, abs=0.1)


def test_a_truncated_file_without_moov_is_refused() -> None:
    data = videos.clip("mp4", seconds=2)
    with pytest.raises(UndecodableImage) as info:
        _scan(data[: data.index(b"moov") - 4])
    assert "no moov index" in info.value.public_message
    assert info.value.http_status == 422


def test_a_huge_frame_claim_is_refused_by_the_frame_limit() -> None:
    data = videos.claim_frame(videos.clip("mp4"), 60000, 60000)
    with pytest.raises(ImageTooLarge) as info:
        _scan(data)
    assert "60000x60000" in info.value.public_message


def test_max_video_pixels_is_a_setting() -> None:
    data = videos.clip("mp4", width=96, height=64)
    with pytest.raises(ImageTooLarge):
        _scan(data, LimitsSettings(max_video_pixels=96 * 64 - 1))
    assert _scan(data, LimitsSettings(max_video_pixels=96 * 64)).width == 96


def test_a_ten_hour_clip_of_a_tiny_frame_is_refused_by_its_declared_duration() -> None:
    data = videos.claim_duration(videos.clip("mp4", width=16, height=16), 10 * 3600)
    with pytest.raises(VideoTooLong) as info:
        _scan(data)
    assert "36000 s" in info.value.public_message
    assert info.value.http_status == 422


def test_max_video_seconds_is_a_setting() -> None:
    data = videos.clip("webm", "libvpx-vp9", "libopus", seconds=3)
    with pytest.raises(VideoTooLong):
        _scan(data, LimitsSettings(max_video_seconds=2))


def test_dozens_of_streams_are_refused_by_the_stream_limit() -> None:
    data = videos.clip("mkv", "libx264", "libopus", audio_streams=12, seconds=0.5)
    with pytest.raises(TooManyStreams) as info:
        _scan(data)
    assert "13 audio and video streams" in info.value.public_message
    assert _scan(data, LimitsSettings(max_video_streams=13)).video is not None


def test_an_audio_only_mp4_is_415_saying_there_is_no_video() -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        _scan(videos.clip("mp4", video=None, audio="aac"))
    assert "no video stream" in info.value.public_message
    assert info.value.http_status == 415


def test_a_codec_no_decoder_reads_is_415_naming_it() -> None:
    data = videos.rename_codec(videos.clip("mp4"), b"avc1", b"zzzz")
    with pytest.raises(UnsupportedMediaType) as info:
        _scan(data)
    assert "fourcc:zzzz" in info.value.public_message


def test_a_video_may_be_larger_than_a_photo_may() -> None:
    data = videos.clip("mp4", seconds=2)
    small_photos = LimitsSettings(max_upload_bytes=len(data) - 1)
    assert _scan(data, small_photos).mime == "video/mp4"
    with pytest.raises(UploadTooLarge) as info:
        _scan(data, LimitsSettings(max_video_upload_bytes=len(data) - 1))
    assert str(len(data) - 1) in info.value.public_message
    with pytest.raises(UploadTooLarge):
        _scan(images.jpeg_bytes(640, 480), LimitsSettings(max_upload_bytes=1000))


def test_every_codec_called_decodable_has_a_decoder_in_the_installed_av() -> None:
    # FFmpeg's decoder names for the families we name; "pcm" and "amr*" are families.
    aliases = {"pcm": "pcm_s16le", "amrnb": "amrnb", "amrwb": "amrwb"}
    for name in sorted(DECODABLE_VIDEO | DECODABLE_AUDIO):
        codec = av.codec.Codec(aliases.get(name, name), "r")
        assert codec.type in ("video", "audio")


def test_without_videos_the_scanner_refuses_a_video_with_415() -> None:
    # What the ingest gate does until the worker renders videos.
    with pytest.raises(UnsupportedMediaType) as info:
        scan_header(videos.clip("mp4"), LIMITS)
    assert "videos are not accepted" in info.value.public_message


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(videos.clip("mov", "libx264", "aac", seconds=0.5), id="mov"),
        pytest.param(videos.clip("webm", "libvpx-vp9", "libopus", seconds=0.5), id="webm"),
    ],
)
def test_cut_or_corrupted_videos_get_a_clear_error_never_a_crash(data: bytes) -> None:
    rng = random.Random(21)
    variants = [data[:cut] for cut in range(0, len(data), max(1, len(data) // 97))]
    for _ in range(200):
        corrupted = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            corrupted[rng.randrange(len(data))] = rng.randrange(256)
        variants.append(bytes(corrupted))
    statuses = set()
    for variant in variants:
        try:
            _scan(variant, chunk=1000)
        except InputError as exc:  # anything else (IndexError, struct.error...) fails the test
            statuses.add(exc.http_status)
    assert statuses <= {400, 413, 415, 422}
    assert 422 in statuses  # the cuts before the index at least


def test_a_tus_upload_is_held_to_the_limit_of_the_type_its_first_bytes_show() -> None:
    limits = LimitsSettings(max_upload_bytes=10_000, max_video_upload_bytes=1_000_000)
    photo, clip = images.jpeg_bytes(64, 48), videos.clip("mp4", seconds=1)
    with pytest.raises(UploadTooLarge) as info:
        HeadCheck(limits, length=500_000, active=True).feed(photo[:4096])
    assert "10000 bytes" in info.value.public_message
    check = HeadCheck(limits, length=500_000, active=True)
    check.feed(clip[:4096])  # a video may be that large
    assert check.mime is None or check.mime == "video/mp4"
