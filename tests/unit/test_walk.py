"""A walk over the library stops (an outage, Ctrl-C) and goes on where it stood."""

from __future__ import annotations

import argparse

import pytest

from gallery.resume import add_after
from pipeline.domain.models import ImageRecord, WalkPosition, new_image_id
from pipeline.services.walk import WalkState, format_position, parse_position, walk_images
from tests.fakes import FakeCatalog, FakeImageScan


async def library() -> FakeCatalog:
    catalog = FakeCatalog()
    for tenant, count in (("acme", 5), ("bob", 3)):
        for n in range(count):
            image_id = new_image_id()
            await catalog.insert_image(
                ImageRecord(
                    id=image_id,
                    tenant=tenant,
                    status="ready",
                    sha256=f"{tenant}{n}",
                    content_type="image/jpeg",
                    bytes=1,
                    width=1,
                    height=1,
                    original_key=f"originals/{tenant}/{image_id}",
                )
            )
    return catalog


async def test_a_walk_that_stopped_goes_on_where_it_stood_and_misses_nothing() -> None:
    scan = FakeImageScan(await library())
    state, seen = WalkState(), []

    async def until_the_catalog_goes() -> None:
        async for record in walk_images(scan, batch=2, pause=0, state=state):
            if len(seen) == 3:  # the fourth image: the catalog went away mid-batch
                raise ConnectionError("catalog gone")
            seen.append(record.id)

    with pytest.raises(ConnectionError):
        await until_the_catalog_goes()
    assert state.position == WalkPosition("acme", 2), "after the last whole batch"
    assert not state.done
    resumed = WalkState()
    async for record in walk_images(scan, batch=2, pause=0, after=state.position, state=resumed):
        seen.append(record.id)
    everything = sorted(scan.catalog.images.values(), key=lambda r: (r.tenant, r.seq))
    # The batch it stopped in is walked again (every check is idempotent), nothing skipped.
    assert seen[:2] + seen[3:] == [r.id for r in everything]
    assert resumed.done


def test_after_reads_tenant_and_sequence_and_names_a_bad_one() -> None:
    assert parse_position("team:a:41") == WalkPosition("team:a", 41)
    assert format_position(WalkPosition("team:a", 41)) == "team:a:41"
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_after(parser)
    assert parser.parse_args(["--after", "acme:7"]).after == WalkPosition("acme", 7)
    for bad in ("acme", ":7", "acme:x", "acme:٣"):
        with pytest.raises(argparse.ArgumentError, match="TENANT:SEQ"):
            parser.parse_args(["--after", bad])
