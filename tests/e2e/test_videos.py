"""Videos through the whole pipeline: phone-like clips (made with the encoder) uploaded to the
gateway become ready with a poster and a web-playable preview that streams with Range."""

from __future__ import annotations

import json
from typing import Any

import pytest
import pyvips

from pipeline.imaging.scan import scan_header
from pipeline.runtime.settings import LimitsSettings
from tests import images, videos
from tests.conftest import SettingsFactory
from tests.e2e.conftest import Api, StackFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
async def api(make_settings: SettingsFactory, start_stack: StackFactory, api_for: Any) -> Api:
    stack = await start_stack(make_settings())
    result: Api = await api_for(stack, "alice")
    return result


async def test_a_rotated_phone_clip_becomes_an_upright_poster_and_a_playable_preview(
    api: Api,
) -> None:
    clip = videos.rotate(videos.clip("mov", "libx265", "aac", width=160, height=96, seconds=2), 90)
    status, doc = await api.upload(clip, content_type="application/octet-stream")
    assert status == 202, doc
    assert (doc["media"], doc["content_type"]) == ("video", "video/quicktime")
    ready = await api.wait_status(doc["id"], {"ready", "failed"})
    assert ready["status"] == "ready", ready
    assert (ready["width"], ready["height"], ready["frames"]) == (96, 160, 1)  # upright, a clip
    assert sorted(ready["renditions"]) == ["large", "preview", "thumb", "video"]
    assert ready["metadata"]["video_codec"] == "hevc"
    assert ready["thumbhash"]
    status, body = await api.get(ready["renditions"]["preview"]["url"])
    assert status == 200
    poster = pyvips.Image.new_from_buffer(body, "")
    assert poster.height > poster.width
    preview = ready["renditions"]["video"]
    assert preview["content_type"] == "video/mp4"
    status, body = await api.get(preview["url"])
    assert status == 200
    header = scan_header(body, LimitsSettings(), videos=True)
    assert header.video is not None
    assert [s.codec for s in header.video.streams] == ["h264", "aac"]
    assert (header.width, header.height) == (96, 160)
    async with api.session.get(
        f"{api.url}{preview['url']}", headers={"Range": "bytes=0-99"}
    ) as response:  # a browser seeking
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes 0-99/{len(body)}"
        assert len(await response.read()) == 100


@pytest.mark.parametrize(
    ("container", "video", "audio"),
    [("mp4", "libx264", "aac"), ("webm", "libvpx-vp9", "libopus"), ("3gp", "libx264", "aac")],
)
async def test_each_container_becomes_ready(
    api: Api, container: str, video: str, audio: str
) -> None:
    status, doc = await api.upload(
        videos.clip(container, video, audio, width=96, height=64), content_type="video/mp4"
    )
    assert status == 202, doc
    ready = await api.wait_status(doc["id"], {"ready", "failed"})
    assert ready["status"] == "ready", ready
    assert ready["renditions"]["video"]["content_type"] == "video/mp4"


async def test_hostile_videos_get_a_clear_answer_and_leave_nothing(api: Api) -> None:
    clip = videos.clip("mp4", seconds=1)
    cases = {
        "truncated": (clip[: clip.index(b"moov") - 4], 422, "no moov index"),
        "huge frame": (videos.claim_frame(clip, 60000, 60000), 422, "60000x60000"),
        "ten hours": (videos.claim_duration(clip, 36000), 422, "36000 s"),
        "audio only": (videos.clip("mp4", video=None), 415, "no video stream"),
        "unknown codec": (videos.rename_codec(clip, b"avc1", b"zzzz"), 415, "fourcc:zzzz"),
    }
    for name, (data, expected, words) in cases.items():
        status, doc = await api.upload(data, content_type="video/mp4")
        assert status == expected, (name, doc)
        assert words in str(doc), (name, doc)
    status, listing = await api.get("/v1/images")
    assert status == 200
    assert listing["items"] == []


@pytest.mark.parametrize("kind", ["google", "samsung"])
async def test_a_motion_photo_is_one_photo_whose_motion_plays(api: Api, kind: str) -> None:
    photo = images.jpeg_bytes(400, 300)
    clip = videos.clip("mp4", "libx265", "aac", width=128, height=96, seconds=2)
    make = videos.google_motion_photo if kind == "google" else videos.samsung_motion_photo
    status, doc = await api.upload(make(photo, clip), content_type="image/jpeg")
    assert status == 202, doc
    ready = await api.wait_status(doc["id"], {"ready", "failed"})
    assert ready["status"] == "ready", ready
    assert ready["media"] == "motion"
    assert (ready["content_type"], ready["width"], ready["height"]) == ("image/jpeg", 400, 300)
    assert sorted(ready["renditions"]) == ["large", "motion", "preview", "thumb"]
    motion = ready["motion"]
    assert motion["source"] == kind
    assert motion["duration_seconds"] == pytest.approx(2, 0.2)
    assert motion["url"] == ready["renditions"]["motion"]["url"]
    status, body = await api.get(motion["url"])
    assert status == 200
    header = scan_header(body, LimitsSettings(), videos=True)
    assert header.video is not None
    assert [s.codec for s in header.video.streams] == ["h264", "aac"]
    async with api.session.get(
        f"{api.url}{motion['url']}", headers={"Range": "bytes=0-99"}
    ) as response:
        assert response.status == 206
    status, listing = await api.get("/v1/images")
    assert [item["id"] for item in listing["items"]] == [doc["id"]]  # one item, not two


async def test_a_motion_photo_whose_video_is_broken_still_renders_saying_why(api: Api) -> None:
    clip = videos.clip("mp4", seconds=1)
    broken = clip.replace(b"moov", b"xxxx")
    data = videos.google_motion_photo(images.jpeg_bytes(300, 200), broken)
    status, doc = await api.upload(data, content_type="image/jpeg")
    assert status == 202, doc
    ready = await api.wait_status(doc["id"], {"ready", "failed"})
    assert ready["status"] == "ready", ready
    assert (ready["media"], ready["motion"]) == ("photo", None)
    assert "cut short" in ready["metadata"]["motion_error"]
    status, original = await api.get(f"/v1/images/{doc['id']}/original")
    assert status == 200
    assert original == data  # nothing lost: the original keeps the motion part


@pytest.mark.parametrize("first", ["photo", "video"])
async def test_an_apple_live_photo_uploaded_as_two_files_is_one_photo(api: Api, first: str) -> None:
    identifier = "6C3C2B1A-0F9E-4D8C-B7A6-958473625140"
    still = images.apple_live_jpeg(400, 300, identifier)
    tags = {"com.apple.quicktime.content.identifier": identifier}
    movie = videos.clip("mov", "libx265", "aac", width=128, height=96, seconds=2, tags=tags)
    uploads = [(still, "image/jpeg"), (movie, "video/quicktime")]
    ids = {}
    for data, content_type in uploads if first == "photo" else uploads[::-1]:
        status, doc = await api.upload(data, content_type=content_type)
        assert status == 202, doc
        ids[doc["media"]] = doc["id"]
        ready = await api.wait_status(doc["id"], {"ready", "failed"})  # one after the other
        assert ready["status"] == "ready", ready
    # The second half links them just after it is marked ready (then its event goes out).
    photo = await api.wait_until(ids["photo"], lambda doc: doc["media"] == "motion", 30)
    video = await api.wait_until(ids["video"], lambda doc: doc["motion_of"] == ids["photo"], 30)
    assert photo["metadata"]["content_identifier"] == identifier
    assert photo["motion"]["source"] == "apple"
    assert photo["motion"]["duration_seconds"] == pytest.approx(2, 0.2)
    status, body = await api.get(photo["motion"]["url"])
    assert status == 200
    header = scan_header(body, LimitsSettings(), videos=True)
    assert header.video is not None
    assert [s.codec for s in header.video.streams] == ["h264", "aac"]
    status, listing = await api.get("/v1/images")
    assert [item["id"] for item in listing["items"]] == [ids["photo"]]  # never two items
    assert video["status"] == "ready"  # kept, not lost: GET by id still answers
    assert await api.delete(f"/v1/images/{ids['photo']}?permanent=true") == 204
    status, _ = await api.get(f"/v1/images/{ids['video']}")
    assert status == 404  # one item: its video went with it


async def test_the_spec_entry_named_video_picks_the_preview_codec(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for: Any
) -> None:
    renditions = json.dumps(
        [
            {"name": "thumb", "width": 128, "height": 128, "crop": "attention", "format": "webp"},
            {"name": "video", "codec": "vp9", "width": 640, "height": 360},
        ]
    )
    stack = await start_stack(make_settings(renditions=renditions))
    api: Api = await api_for(stack, "alice")
    status, doc = await api.upload(
        videos.clip("mp4", width=96, height=64), content_type="video/mp4"
    )
    assert status == 202, doc
    ready = await api.wait_status(doc["id"], {"ready", "failed"})
    assert ready["status"] == "ready", ready
    assert sorted(ready["renditions"]) == ["thumb", "video"]
    preview = ready["renditions"]["video"]
    assert preview["content_type"] == "video/webm"
    status, body = await api.get(preview["url"])
    assert status == 200
    header = scan_header(body, LimitsSettings(), videos=True)
    assert header.video is not None
    assert [s.codec for s in header.video.streams] == ["vp9", "opus"]
