"""The object store survives a node: production's SeaweedFS layout as local processes.

Three Raft masters (replication ``010``), three volume servers on racks r1..r3 (one per worker
node in production), two filers keeping their metadata in one MongoDB-wire server (production:
the catalog's replica set) and the S3 gateway on both. Objects go in through the project's own
S3ObjectStore; one node's master, filer and volume server are SIGKILLed at once (the node
powered off), every object must still read back byte-identical through the other filer and new
writes must land; a replacement volume server on that
rack starts empty (the node came back without its disk, the harder case) and
``volume.fix.replication`` must bring every object back to two copies on two racks.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pymongo
import pytest

from gallery.servers import mongo_uri, start_secantus
from pipeline.adapters.storage.s3 import S3ObjectStore
from pipeline.runtime.settings import S3Settings
from tests.seaweedfs import ACCESS_KEY, REPLICATION, SECRET_KEY, WeedCluster

# About 1.5-2 min on the 2-core machine under load; the timeout only catches a hang.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(480)]

BUCKET = "gallery"
OBJECTS_BEFORE = 60
OBJECTS_DURING = 20
# Part size is the S3 minimum (5 MiB); a 6 MiB object is a two-part upload: two chunks.
LARGE_BYTES = 6 * 1024 * 1024
_WAIT_SECONDS = 60.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[WeedCluster]:
    catalog = start_secantus(tmp_path / "catalog")
    weed = WeedCluster(tmp_path / "weed", mongo_uri=mongo_uri(catalog.port))
    try:
        weed.start()
        yield weed
    finally:
        weed.stop()
        catalog.stop()


def body(index: int) -> bytes:
    """Distinct bytes per object; every tenth is large enough to be stored as several chunks."""
    size = LARGE_BYTES if index % 10 == 0 else 1000 + 997 * index
    seed = hashlib.sha256(str(index).encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def copies(cluster: WeedCluster, key: str) -> int:
    """The fewest distinct racks holding any chunk of ``key`` (2 = every chunk on two nodes)."""
    fids = cluster.chunk_fids(BUCKET, key)
    assert fids, f"{key} has no chunks in the filer"
    return min(len(cluster.racks_of_volume(fid.split(",")[0])) for fid in fids)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {_WAIT_SECONDS:.0f} s: {what}")
        time.sleep(0.2)


def pre_grow(cluster: WeedCluster, count: int) -> None:
    """Writable volumes ahead of need (what production's seaweedfs-volume-grow Job asks for)."""
    url = f"{cluster.leader_url()}/vol/grow?collection={BUCKET}&replication={REPLICATION}"
    with urllib.request.urlopen(f"{url}&count={count}", timeout=30) as response:
        assert response.status == 200, response.read()


async def test_objects_survive_a_node_killed_and_regain_two_copies(
    cluster: WeedCluster,
) -> None:
    pre_grow(cluster, 6)
    settings = S3Settings(
        endpoint=cluster.s3_endpoint,
        bucket=BUCKET,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        create_bucket=True,
        part_bytes=5 * 1024 * 1024,
    )
    written: dict[str, bytes] = {}
    async with S3ObjectStore(settings) as store:
        await store.check()
        for index in range(OBJECTS_BEFORE):
            key, data = f"originals/{index:04d}", body(index)
            await store.put_stream(key, _one(data), content_type="application/octet-stream")
            written[key] = data
        before = {key: copies(cluster, key) for key in written}
        assert set(before.values()) == {2}, f"objects not on two racks: {before}"
        # The filer's metadata is in the MongoDB-wire store, none on the filer's disk.
        with pymongo.MongoClient(cluster.mongo_uri) as client:
            assert client.gallery.filemeta.count_documents({}) >= OBJECTS_BEFORE

        # Node 0 loses power: its master, its filer and r1's volume server at once, no
        # graceful stop, no last heartbeat.
        lost = cluster.volumes["r1"]
        for proc in (cluster.masters[0], cluster.filers[0], lost):
            proc.stop(sig=signal.SIGKILL)
        wait_until(cluster.has_leader, "the two surviving masters have a leader")
        wait_until(
            lambda: cluster.url_of(lost) not in cluster.live_volume_servers(),
            "the leader drops the killed volume server",
        )
        for key, data in written.items():
            assert await store.get_bytes(key) == data, f"{key} differs after r1 died"
        for index in range(OBJECTS_BEFORE, OBJECTS_BEFORE + OBJECTS_DURING):
            key, data = f"originals/{index:04d}", body(index)
            await store.put_stream(key, _one(data), content_type="application/octet-stream")
            written[key] = data
            assert await store.get_bytes(key) == data
        single = sum(1 for key in written if copies(cluster, key) < 2)
        # Objects with a copy on r1 are down to one; without that this test proves nothing.
        assert single > 0

        # A replacement machine on rack r1, with an empty disk.
        started = time.monotonic()
        cluster.start_volume("r1", cluster.root / "volume-r1-replacement")
        output = await asyncio.to_thread(
            cluster.shell, "lock\nvolume.fix.replication -apply\nunlock"
        )
        fix_s = time.monotonic() - started
        after = {key: copies(cluster, key) for key in written}
        with_two = sum(1 for n in after.values() if n >= 2)
        for key, data in written.items():
            assert await store.get_bytes(key) == data, f"{key} differs after the repair"

    print(
        f"cluster re-replication: objects={len(written)} with_two_copies={with_two}"
        f" single_copy_while_down={single} fix_s={fix_s:.1f}"
    )
    assert with_two == len(written), f"still under-replicated: {after}\n{output}"


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
