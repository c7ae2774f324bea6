"""Rendition specs: defaults, hashing, parsing."""

from __future__ import annotations

import json

import pytest

from pipeline.domain.errors import ConfigurationError
from pipeline.imaging.spec import DEFAULT_SPEC, RenditionSpec, parse_spec, parse_video_spec
from pipeline.imaging.video import VideoSpec

pytestmark = pytest.mark.unit

THUMB = RenditionSpec(
    name="thumb", width=256, height=256, crop="attention", format="webp", quality=75
)


def test_default_spec_matches_the_architecture() -> None:
    thumb, preview, large = DEFAULT_SPEC
    assert (thumb.name, thumb.width, thumb.height, thumb.crop) == ("thumb", 256, 256, "attention")
    assert (thumb.format, thumb.quality) == ("webp", 75)
    assert (preview.name, preview.width, preview.height, preview.crop) == (
        "preview",
        1280,
        1280,
        "none",
    )
    assert (preview.format, preview.quality) == ("webp", 80)
    assert (large.name, large.width, large.height, large.upscale) == ("large", 2048, 2048, False)
    assert (large.format, large.quality) == ("jpeg", 85)


def test_spec_hash_is_stable_and_short() -> None:
    again = RenditionSpec.model_validate(THUMB.model_dump())
    assert THUMB.spec_hash == again.spec_hash
    assert len(THUMB.spec_hash) == 12
    int(THUMB.spec_hash, 16)
    # Pinned: stored object keys embed it, so an accidental change would orphan every
    # rendition. Change it on purpose only (with PIPELINE_VERSION).
    assert THUMB.spec_hash == "92c36c14f407"


@pytest.mark.parametrize(
    "change",
    [
        {"name": "thumb2"},
        {"width": 257},
        {"height": 255},
        {"crop": "centre"},
        {"format": "avif"},
        {"quality": 76},
        {"upscale": True},
    ],
)
def test_spec_hash_changes_with_every_parameter(change: dict[str, object]) -> None:
    changed = THUMB.model_copy(update=change)
    assert changed.spec_hash != THUMB.spec_hash


def test_spec_hash_changes_with_the_pipeline_version(monkeypatch: pytest.MonkeyPatch) -> None:
    before = THUMB.spec_hash
    monkeypatch.setattr("pipeline.imaging.spec.PIPELINE_VERSION", 999)
    assert THUMB.spec_hash != before


@pytest.mark.parametrize(
    ("fmt", "extension", "content_type"),
    [
        ("webp", "webp", "image/webp"),
        ("jpeg", "jpg", "image/jpeg"),
        ("avif", "avif", "image/avif"),
        ("png", "png", "image/png"),
    ],
)
def test_extension_and_content_type(fmt: str, extension: str, content_type: str) -> None:
    spec = RenditionSpec.model_validate({"name": "x", "width": 8, "height": 8, "format": fmt})
    assert (spec.extension, spec.content_type) == (extension, content_type)


def test_parse_spec_empty_is_default() -> None:
    assert parse_spec("") is DEFAULT_SPEC
    assert parse_spec("  \n") is DEFAULT_SPEC


def test_parse_spec_reads_a_json_list() -> None:
    text = json.dumps(
        [
            {"name": "square", "width": 100, "height": 100, "crop": "centre", "format": "png"},
            {"name": "hd", "width": 1920, "height": 1080, "format": "avif", "quality": 50},
        ]
    )
    square, hd = parse_spec(text)
    assert square.crop == "centre"
    assert square.format == "png"
    assert hd.quality == 50
    assert hd.upscale is False


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{not json", "not a JSON list"),
        ('{"name": "x"}', "not a JSON list"),
        ("[]", "at least 1"),
        ('[{"name": "x", "width": 10, "height": 10}]', "format"),
        ('[{"name": "x", "width": 0, "height": 10, "format": "webp"}]', "width"),
        ('[{"name": "x", "width": 10, "height": 10, "format": "bmp"}]', "format"),
        ('[{"name": "x", "width": 10, "height": 10, "format": "webp", "colour": 1}]', "colour"),
        ('[{"name": "x", "width": 10, "height": 10, "format": "webp", "quality": 101}]', "quality"),
        ('[{"name": "../x", "width": 10, "height": 10, "format": "webp"}]', "name"),
        (
            '[{"name": "a", "width": 1, "height": 1, "format": "png"},'
            ' {"name": "a", "width": 2, "height": 2, "format": "png"}]',
            "unique, repeated: a",
        ),
        ('[{"name": "video", "width": 10, "height": 10, "format": "webp"}]', "video's preview"),
    ],
)
def test_parse_spec_names_the_problem(text: str, needle: str) -> None:
    with pytest.raises(ConfigurationError, match="renditions") as info:
        parse_spec(text)
    assert needle in str(info.value)


def test_the_video_preview_is_an_entry_of_the_spec_named_video() -> None:
    text = json.dumps(
        [
            {"name": "thumb", "width": 256, "height": 256, "format": "webp"},
            {"name": "video", "codec": "vp9", "width": 1280, "height": 720, "crf": 30},
        ]
    )
    assert [r.name for r in parse_spec(text)] == ["thumb"]  # the image renditions
    video = VideoSpec.from_spec(parse_video_spec(text))
    assert (video.codec, video.max_width, video.max_height, video.crf) == ("vp9", 1280, 720, 30)
    assert (video.format.extension, video.format.content_type) == ("webm", "video/webm")
    assert video.spec_hash != VideoSpec().spec_hash  # a new key: backfill knows it changed
    # Without an entry: H.264/AAC MP4 at most 1080p, the hash it always had.
    assert VideoSpec.from_spec(parse_video_spec("")) == VideoSpec()
    assert VideoSpec().spec_hash == "112aa1e7a19b"


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ({"codec": "hevc"}, "codec"),
        ({"crf": 99}, "crf"),
        ({"width": 8}, "width"),
        ({"preset": "fast; rm"}, "preset"),
        ({"format": "webp"}, "format"),
    ],
)
def test_a_bad_video_entry_is_refused_naming_the_field(
    entry: dict[str, object], needle: str
) -> None:
    text = json.dumps([{"name": "thumb", "width": 8, "height": 8, "format": "webp"},
                       {"name": "video", **entry}])  # fmt: skip
    with pytest.raises(ConfigurationError, match="video's preview") as info:
        parse_video_spec(text)
    assert needle in str(info.value)
