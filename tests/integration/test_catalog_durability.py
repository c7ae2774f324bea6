"""A catalog killed (SIGKILL, an OOM kill, a node lost) right after acknowledging writes keeps
every one of them: the catalog's writes wait for the server's journal (``GALLERY_MONGO_JOURNAL``).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from gallery.servers import mongo_uri, start_secantus
from pipeline.adapters.catalog import MongoCatalog
from pipeline.domain.errors import ConfigurationError
from pipeline.runtime.settings import MongoSettings, load_settings
from tests.integration.test_catalog import LEASE, ready, record

pytestmark = pytest.mark.integration

IMAGES = 40


async def test_a_catalog_killed_right_after_acknowledging_loses_nothing(tmp_path: Path) -> None:
    # Measured without the journal wait: a SIGKILLed SecantusDB came back without 4 to 12 of
    # its last 800 acknowledged writes.
    server = start_secantus(tmp_path / "catalog")
    settings = MongoSettings(uri=mongo_uri(server.port), database="durable")
    try:
        async with MongoCatalog.connect(settings) as catalog:
            await catalog.ensure_indexes()
            images = [record(sha=f"photo-{n}") for n in range(IMAGES)]
            for image in images:
                await catalog.insert_image(image)
            for image in images[: IMAGES // 2]:
                assert await catalog.claim(image.tenant, image.id, owner="w/1", lease=LEASE)
                assert await ready(catalog, image) is not None
            server.stop(sig=signal.SIGKILL)  # no shutdown, no checkpoint: only the journal
        server = start_secantus(tmp_path / "catalog", port=server.port)
        async with MongoCatalog.connect(settings) as catalog:
            found = [await catalog.get_image(image.tenant, image.id) for image in images]
    finally:
        server.stop()
    assert [image and image.status for image in found] == ["ready"] * (IMAGES // 2) + ["queued"] * (
        IMAGES // 2
    ), "every acknowledged insert and transition survived the kill"


@pytest.mark.parametrize("journal", [True, False])
async def test_the_journal_setting_is_the_write_concern_sent(
    mongo_server_uri: str, journal: bool
) -> None:
    settings = MongoSettings(uri=mongo_server_uri, database="concern", journal=journal)
    async with MongoCatalog.connect(settings) as catalog:
        for collection in (catalog.images, catalog.api_keys):
            assert collection.write_concern.document == {"w": 1, "j": journal}


async def test_the_embedded_catalog_takes_its_cache_size_from_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("GALLERY_")]:
        monkeypatch.delenv(name)  # only the setting under test
    monkeypatch.setenv("GALLERY_MONGO_EMBEDDED_CACHE_SIZE", "64M")
    size = load_settings().mongo.embedded_cache_size
    server = start_secantus(tmp_path / "catalog", cache_size=size)
    try:
        args = [str(arg) for arg in server.process.args]
        assert args[-2:] == ["--cache-size", "64M"]
        async with MongoCatalog.connect(MongoSettings(uri=mongo_uri(server.port))) as catalog:
            await catalog.ping()
    finally:
        server.stop()
    monkeypatch.setenv("GALLERY_MONGO_EMBEDDED_CACHE_SIZE", "lots")
    with pytest.raises(ConfigurationError, match="GALLERY_MONGO_EMBEDDED_CACHE_SIZE"):
        load_settings()
