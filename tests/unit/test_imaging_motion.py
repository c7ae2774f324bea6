"""Motion photos: the video inside a Google or Samsung motion photo becomes the ``motion``
rendition; a broken or oversized motion part never costs the photo."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import pytest

from pipeline.imaging.motion import BrokenMotion, find_embedded
from pipeline.imaging.render_file import preview_path, render_file
from pipeline.imaging.spec import DEFAULT_SPEC
from pipeline.imaging.video import VideoSpec
from pipeline.runtime.settings import LimitsSettings
from tests import images, videos

pytestmark = pytest.mark.unit
SMALL = VideoSpec(max_width=160, max_height=90)


def _photo() -> bytes:
    return images.jpeg_bytes(320, 240)


def _clip(seconds: float = 1.0) -> bytes:
    return videos.clip("mp4", "libx265", "aac", width=96, height=64, seconds=seconds)


@pytest.mark.parametrize(
    ("make", "source"),
    [
        (videos.google_motion_photo, "google"),
        (lambda p, v: videos.google_motion_photo(p, v, micro=True), "google"),
        (videos.samsung_motion_photo, "samsung"),
    ],
)
def test_the_embedded_video_is_found_exactly(
    make: Callable[[bytes, bytes], bytes], source: str
) -> None:
    clip = _clip()
    data = make(_photo(), clip)
    found = find_embedded(data)
    assert found is not None
    assert found.source == source
    # Exactly the MP4: not the JPEG before it, not Samsung's index after it.
    assert data[found.offset : found.offset + found.length] == clip


def test_a_plain_photo_claims_no_video() -> None:
    assert find_embedded(_photo()) is None


def test_an_xmp_offset_that_points_at_no_video_is_broken() -> None:
    data = videos.google_motion_photo(_photo(), _clip())
    with pytest.raises(BrokenMotion, match="no MP4"):
        find_embedded(data[:-100])  # the offset from the end now lands inside the video


def test_a_motion_photo_renders_as_a_photo_with_a_playable_motion_rendition(
    on_disk: Callable[[bytes], Path],
) -> None:
    path = on_disk(videos.samsung_motion_photo(_photo(), _clip(seconds=2)))
    result = render_file(path, DEFAULT_SPEC, LimitsSettings(), video=SMALL)
    assert result.media == "motion"
    assert (result.width, result.height) == (320, 240)
    names = [r.name for r in result.renditions]
    assert names == [*(s.name for s in DEFAULT_SPEC), "motion"]
    motion = result.renditions[-1]
    assert motion.path == str(preview_path(path))
    assert (motion.content_type, motion.width, motion.height) == ("video/mp4", 96, 64)
    with av.open(motion.path) as played:
        assert played.streams.video[0].codec_context.name == "h264"  # HEVC made playable
        assert played.duration is not None
        assert played.duration / 1e6 == pytest.approx(2, 0.2)
    assert result.metadata["motion"] == {
        "source": "samsung",
        "duration_seconds": pytest.approx(2, 0.2),
        "video_codec": "hevc",
    }
    assert "motion_error" not in result.metadata
    # The extracted clip is not left beside the original (the spool removes the preview).
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, preview_path(path).name]


def test_a_broken_motion_part_leaves_the_photo_with_a_note(
    on_disk: Callable[[bytes], Path],
) -> None:
    clip = _clip()
    cut = clip.replace(b"moov", b"xxxx")  # the index gone: the video cannot play
    path = on_disk(videos.google_motion_photo(_photo(), cut))
    result = render_file(path, DEFAULT_SPEC, LimitsSettings(), video=SMALL)
    assert result.media == "photo"
    assert [r.name for r in result.renditions] == [s.name for s in DEFAULT_SPEC]
    assert "cut short" in str(result.metadata["motion_error"])
    assert not preview_path(path).exists()


def test_a_motion_part_over_max_motion_seconds_is_left_out_saying_so(
    on_disk: Callable[[bytes], Path],
) -> None:
    path = on_disk(videos.google_motion_photo(_photo(), _clip(seconds=3)))
    limits = LimitsSettings(max_motion_seconds=1.5)
    result = render_file(path, DEFAULT_SPEC, limits, video=SMALL)
    assert result.media == "photo"
    assert "GALLERY_LIMITS_MAX_MOTION_SECONDS" in str(result.metadata["motion_error"])
    assert not preview_path(path).exists()


def test_an_undecodable_motion_part_leaves_the_photo_with_a_note(
    on_disk: Callable[[bytes], Path],
) -> None:
    clip = videos.rename_codec(videos.clip("mp4"), b"avc1", b"zzzz")
    path = on_disk(videos.samsung_motion_photo(_photo(), clip))
    result = render_file(path, DEFAULT_SPEC, LimitsSettings(), video=SMALL)
    assert result.media == "photo"
    assert str(result.metadata["motion_error"]).startswith("the motion part:")
