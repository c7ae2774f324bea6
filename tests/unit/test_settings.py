"""Settings: environment parsing, clear errors at start, the README table kept honest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.domain.errors import ConfigurationError
from pipeline.runtime.settings import Settings, load_settings, markdown_table, to_env

pytestmark = pytest.mark.unit
README = Path(__file__).resolve().parents[2] / "README.md"


def test_sections_read_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GALLERY_NATS_URL", "nats://bus:4222")
    monkeypatch.setenv("GALLERY_S3_BUCKET", "photos")
    monkeypatch.setenv("GALLERY_LIMITS_MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("GALLERY_WORKER_STORE_GPS", "true")
    settings = load_settings()
    assert settings.nats.url == "nats://bus:4222"
    assert settings.s3.bucket == "photos"
    assert settings.limits.max_upload_bytes == 1234
    assert settings.worker.store_gps is True


def test_every_bad_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GALLERY_NATS_MAX_DELIVER", "many")
    monkeypatch.setenv("GALLERY_LIMITS_MAX_PIXELS", "-1")
    monkeypatch.setenv("GALLERY_STORAGE_BACKEND", "floppy")
    monkeypatch.setenv("GALLERY_S3_BUKET", "typo")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    for name in (
        "GALLERY_NATS_MAX_DELIVER",
        "GALLERY_LIMITS_MAX_PIXELS",
        "GALLERY_STORAGE_BACKEND",
        "GALLERY_S3_BUKET",
    ):
        assert name in message


def test_settings_survive_a_trip_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Settings(limits={"max_frames": 3}, worker={"concurrency": 5})
    for key, value in to_env(original).items():
        monkeypatch.setenv(key, value)
    assert load_settings() == original


def test_readme_configuration_table_matches_the_model() -> None:
    text = README.read_text()
    start = text.index("<!-- settings-table:start -->") + len("<!-- settings-table:start -->")
    end = text.index("<!-- settings-table:end -->")
    assert text[start:end].strip() == markdown_table(), (
        "regenerate the README table from markdown_table()"
    )


def test_vips_concurrency_sets_the_threads_of_each_render(monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker in a 3-core pod on a 64-core node must not start 64 libvips threads per render.
    import pyvips

    from pipeline.imaging import vips

    monkeypatch.setenv("GALLERY_WORKER_VIPS_CONCURRENCY", "1")
    monkeypatch.delenv("VIPS_CONCURRENCY", raising=False)
    before = pyvips.concurrency_get()
    try:
        vips.set_threads(load_settings().worker.vips_concurrency)
        assert pyvips.concurrency_get() == 1
        assert os.environ["VIPS_CONCURRENCY"] == "1"  # for render processes started later
    finally:
        pyvips.concurrency_set(before)
        os.environ.pop("VIPS_CONCURRENCY", None)
