"""Every query the catalog adapters send is served by an index, on a catalog big enough to tell.

Each adapter method is run against a seeded catalog while PyMongo's command monitoring
records what it sends. Then, per command:

- a read or multi-document write without an ``_id`` is explained by the engine
  (``executionStats``): it must use an index (no COLLSCAN) and a read must examine a
  bounded number of documents (a page, a batch), far below the catalog's size;
- a filter naming ``_id`` must not carry a top-level operator (SecantusDB scans on those),
  and ``findAndModify`` is refused on the big collections (SecantusDB re-asserts its query
  under ``$and`` and scans). SecantusDB's explain is not truthful for ``_id`` lookups
  (it reports COLLSCAN), so these are checked by the work done instead: the same
  operations take about as long at ten times the catalog size (a scan would take ten
  times as long). A ratio of work, measured in the same run; never an absolute time.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from pipeline.adapters.catalog import MongoCatalog
from pipeline.domain.albums import AlbumRecord
from pipeline.domain.errors import DuplicateImage
from pipeline.domain.messages import utcnow
from pipeline.domain.models import ImageRecord, ReadyImage, WalkPosition, new_image_id
from pipeline.domain.search import ImageFilter
from pipeline.domain.uploads import UploadRecord
from pipeline.runtime.settings import MongoSettings
from tests.conftest import unique

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SMALL, LARGE = 1_500, 15_000
#: Documents a bounded query may examine: a few pages, one walk batch of BATCH.
BOUND = 1_000
BATCH = 200
REPS = 15
#: Collections of one document per tenant, API key minute, migration or album being
#: deleted: scans are fine.
TINY = {"tenants", "rate_windows", "migrations", "album_deletions"}
BIG = {"images", "uploads", "albums"}
TENANT, ALBUM = "big", "A-big"
Document = dict[str, Any]


class Recorder(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: list[Document] = []
        self.on = False

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.on:
            self.commands.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def catalogs(
    mongo_server_uri: str,
) -> AsyncIterator[tuple[MongoCatalog, MongoCatalog, Recorder]]:
    """A small and a large catalog (two databases of one server) and the command recorder."""
    recorder = Recorder()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        mongo_server_uri, event_listeners=[recorder], tz_aware=True, timeoutMS=120_000
    )
    try:
        opened = []
        for size in (SMALL, LARGE):
            name = unique(f"plans{size}").replace("-", "_")
            catalog = MongoCatalog(client, MongoSettings(uri=mongo_server_uri, database=name))
            await catalog.ensure_indexes()
            await catalog.insert_images("other", [image("other", n) for n in range(300)])
            await grow(catalog, size, 0)
            opened.append(catalog)
        yield opened[0], opened[1], recorder
    finally:
        await client.close()


def image(tenant: str, n: int) -> ImageRecord:
    image_id = new_image_id()
    status = "failed" if n % 97 == 0 else "ready"
    return ImageRecord(
        id=image_id,
        tenant=tenant,
        status=status,
        sha256=f"{tenant}-{n:064d}"[-64:],
        content_type="image/jpeg",
        bytes=1000 + n,
        width=4000,
        height=3000,
        original_key=f"originals/{tenant}/{image_id}",
        albums=[ALBUM] if n % 10 == 0 else [],
        filename=f"IMG_{n:05d}.jpg",
        metadata=metadata(n),
    )


def metadata(n: int) -> dict[str, object]:
    """Half the photos have a capture time (one an hour back from 2024), a third are by
    Canon, every seventh says "beach"."""
    found: dict[str, object] = {"camera_make": "Canon" if n % 3 == 0 else "Nikon"}
    if n % 2 == 0:
        found["capture_time"] = (datetime(2024, 1, 1) - timedelta(hours=n % 100_000)).isoformat()
    if n % 7 == 0:
        found["keywords"] = ["beach"]
    return found


async def grow(catalog: MongoCatalog, upto: int, have: int) -> None:
    for start in range(have, upto, 2000):
        await catalog.insert_images(
            TENANT, [image(TENANT, n) for n in range(start, min(upto, start + 2000))]
        )


async def exercise_search(catalog: MongoCatalog) -> None:
    """The timeline, the search and the filters, first and later pages, in both orders."""
    for order in ("upload", "taken"):
        for where in (
            ImageFilter(),
            ImageFilter(q="beach"),
            ImageFilter(q="img_00", camera="canon"),
            ImageFilter(camera="nikon", kind="photo"),
            ImageFilter(taken_after=datetime(2023, 6, 1), taken_before=datetime(2023, 12, 1)),
            ImageFilter(q="beach", taken_after=datetime(2023, 9, 1)),
        ):
            first = await catalog.list_images(TENANT, limit=51, order=order, where=where)
            assert first, (order, where)
            key = "taken_key" if order == "taken" else "seq"
            before = getattr(first[-1], key)
            await catalog.list_images(TENANT, limit=51, order=order, where=where, before=before)
        await catalog.list_images(TENANT, limit=51, order=order, album=ALBUM, status="ready")
        await catalog.list_images(TENANT, limit=51, order=order, status="failed")


async def exercise(catalog: MongoCatalog, images: int) -> None:
    """Run every query of the adapters once (``images``: the big tenant has that many)."""
    top = await catalog.tenants.top_seq(TENANT)
    # Listing, with every filter, first and deep pages.
    for query in ({}, {"status": "ready"}, {"status": "failed"}, {"album": ALBUM},
                  {"album": ALBUM, "status": "ready"}):  # fmt: skip
        assert await catalog.list_images(TENANT, limit=51, **query)
        assert await catalog.list_images(TENANT, limit=51, before=top // 10, **query)
    await exercise_search(catalog)
    # Ingest: a new image, its duplicate, the render's lifecycle.
    new = image(TENANT, 10**9 + top)
    await catalog.insert_image(new)
    with pytest.raises(DuplicateImage):
        await catalog.insert_image(new.model_copy(update={"id": new_image_id()}))
    await catalog.find_by_hash(TENANT, new.sha256)
    await catalog.get_image(TENANT, new.id)
    lease, now = timedelta(minutes=5), utcnow()
    await catalog.images.update_one({"_id": new.id}, {"$set": {"status": "queued"}})
    assert await catalog.claim(TENANT, new.id, owner="w", lease=lease)
    assert await catalog.renew(TENANT, new.id, owner="w", lease=lease)
    await catalog.release(TENANT, new.id, owner="w", error="e")
    await catalog.claim(TENANT, new.id, owner="w", lease=lease)
    await catalog.requeue_round(TENANT, new.id, owner="w", error="e")
    await catalog.claim(TENANT, new.id, owner="w", lease=lease)
    ready = ReadyImage(renditions={}, width=4, height=3, frames=1, metadata={}, thumbhash="x")
    assert await catalog.mark_ready(TENANT, new.id, ready, owner="w")
    await catalog.mark_ready(TENANT, new.id, ready, rerender=True)
    await catalog.touch(TENANT, new.id)
    # A live photo's halves finding each other; linking and unlinking (by _id).
    await catalog.live_partners(TENANT, "no-such-identifier")
    await catalog.unlink_motion(TENANT, new.id, new_image_id())
    # Sweeps: stale queued images and expired leases, expired tus uploads.
    await catalog.stale_unfinished(timedelta(seconds=60), 500)
    await catalog.queued_images(TENANT, 8)  # the render refill
    await catalog.backlog.queued_by_media()  # the render backlog gauge
    await catalog.uploads.expired_uploads(utcnow(), 500)
    await catalog.uploads.open_upload_keys()
    upload = UploadRecord.model_validate(
        {"_id": new_image_id(), "tenant": TENANT, "key": "uploads/x", "length": 10,
         "image_id": new_image_id(),
         "state": "open", "expires_at": utcnow() + lease, "created_at": utcnow()}
    )  # fmt: skip
    await catalog.uploads.insert_upload(upload)
    until = utcnow() + lease
    await catalog.uploads.lock_upload(TENANT, upload.id, offset=0, token="t", until=until, now=now)
    # Reconcile and backfill batches; usage; albums.
    await catalog.scan.scan_images(after=None, limit=BATCH)
    await catalog.scan.scan_images(after=WalkPosition(TENANT, top // 2), limit=BATCH)
    assert (await catalog.usage.tenant_usage(TENANT))[0] == images + 1  # and the new one
    album = AlbumRecord(id=ALBUM, tenant=TENANT, name="big")
    if await catalog.albums.get_album(TENANT, ALBUM) is None:
        await catalog.albums.insert_album(album)
    await catalog.albums.add_to_album(TENANT, ALBUM, new.id)
    await catalog.albums.album_stats(TENANT, ALBUM)
    await catalog.albums.remove_from_album(TENANT, ALBUM, new.id)
    await catalog.albums.list_albums(TENANT, limit=10)
    await delete_an_album_and_count(catalog, new)
    await catalog.mark_failed(TENANT, new.id, "r")
    await catalog.delete_image(TENANT, new.id)
    await catalog.uploads.delete_upload(TENANT, upload.id)


async def delete_an_album_and_count(catalog: MongoCatalog, new: ImageRecord) -> None:
    """An album deleted (recorded, then taken off its images batch by batch), and the
    counters reconcile's repair compares with."""
    doomed = AlbumRecord(id=new_image_id(), tenant=TENANT, name=f"doomed {new.id}")
    await catalog.albums.insert_album(doomed)
    await catalog.albums.add_to_album(TENANT, doomed.id, new.id)
    assert await catalog.albums.delete_album(TENANT, doomed.id)
    await catalog.albums.take_off(TENANT, doomed.id, batch=BATCH, most=BATCH)
    await catalog.albums.finish_deletes(batch=BATCH, most=BATCH)
    await catalog.scan.tenant_counts(TENANT)


def filters(command: Document) -> list[tuple[str, Document, Document | None, bool]]:
    """(collection, filter, sort, is a read) of each query inside ``command``."""
    name = next(iter(command))  # the command's name comes first, its collection as value
    collection = command[name]
    if name == "find":
        return [(collection, command.get("filter", {}), command.get("sort"), True)]
    if name == "update":
        return [(collection, u["q"], None, False) for u in command["updates"]]
    if name == "delete":
        return [(collection, d["q"], None, False) for d in command["deletes"]]
    if name == "findAndModify":
        return [(collection, command.get("query", {}), command.get("sort"), False)]
    if name == "aggregate" and _is_a_count(command["pipeline"]):
        # count_documents: a $match, then counted. Checked as a find of the $match: an
        # index range, whose documents (a count reads them on SecantusDB) stay bounded.
        return [(collection, command["pipeline"][0]["$match"], None, True)]
    assert name not in {"aggregate", "count", "distinct"}, f"a scan-shaped command: {command}"
    return []


def _is_a_count(pipeline: list[Document]) -> bool:
    """Whether ``pipeline`` is PyMongo's count_documents: $match, [$skip, $limit,] $group."""
    stages = [next(iter(stage)) for stage in pipeline]
    return (
        stages[:1] == ["$match"]
        and stages[-1:] == ["$group"]
        and set(stages[1:-1]) <= {"$skip", "$limit"}
    )


async def point_operations(catalog: MongoCatalog) -> dict[str, Callable[[], Awaitable[object]]]:
    """Each ``_id``-keyed operation, on an image whose guards refuse them: the same lookup
    as a transition that succeeds, with nothing changed."""
    one = (await catalog.list_images(TENANT, limit=1, status="ready"))[0]
    lease, now = timedelta(minutes=5), utcnow()
    ready = ReadyImage(renditions={}, width=4, height=3, frames=1, metadata={}, thumbhash="x")
    operations: dict[str, Callable[[], Awaitable[object]]] = {
        "get": lambda: catalog.get_image(TENANT, one.id),
        "find_by_hash": lambda: catalog.find_by_hash(TENANT, one.sha256),
        "claim": lambda: catalog.claim(TENANT, one.id, owner="w", lease=lease),
        "renew": lambda: catalog.renew(TENANT, one.id, owner="w", lease=lease),
        "release": lambda: catalog.release(TENANT, one.id, owner="w", error="e"),
        "requeue_round": lambda: catalog.requeue_round(TENANT, one.id, owner="w", error="e"),
        "mark_ready": lambda: catalog.mark_ready(TENANT, one.id, ready, owner="w"),
        "mark_failed": lambda: catalog.mark_failed(TENANT, one.id, "r", owner="w"),
        "requeue": lambda: catalog.requeue(TENANT, one.id),
        "touch": lambda: catalog.touch(TENANT, one.id),
        "remove_from_album": lambda: catalog.albums.remove_from_album(TENANT, "none", one.id),
        "delete": lambda: catalog.delete_image(TENANT, new_image_id()),
        "lock_upload": lambda: catalog.uploads.lock_upload(
            TENANT, new_image_id(), offset=0, token="t", until=now, now=now
        ),
        "album_stats": lambda: catalog.albums.album_stats(TENANT, ALBUM),
        "usage": lambda: catalog.usage.tenant_usage(TENANT),
    }
    return operations


async def point_costs(small: MongoCatalog, large: MongoCatalog) -> dict[str, float]:
    """Per operation, its cost on ``large`` over its cost on ``small``: each the fastest of
    REPS, the two measured in turn so a busy machine slows both alike."""
    sides = [await point_operations(small), await point_operations(large)]
    best: list[dict[str, float]] = [{}, {}]
    for _ in range(REPS):
        for side, operations in enumerate(sides):
            for name, call in operations.items():
                started = time.perf_counter()
                await call()
                took = time.perf_counter() - started
                best[side][name] = min(best[side].get(name, took), took)
    return {name: best[1][name] / best[0][name] for name in best[0]}


async def check_plans(catalog: MongoCatalog, commands: list[Document]) -> None:
    db = catalog.images.database
    for command in commands:
        if "findAndModify" in command:
            assert command["findAndModify"] not in BIG, (
                f"findAndModify scans on SecantusDB: {command}"
            )
        for collection, query, sort, read in filters(command):
            if collection in TINY:
                continue
            if "_id" in query:
                ops = [k for k in query if k.startswith("$")]
                assert not ops, f"top-level {ops} beside _id makes SecantusDB scan: {query}"
                continue  # a point lookup: checked by the work ratio below
            inner = {"find": collection, "filter": query, **({"sort": sort} if sort else {})}
            plan = await db.command({"explain": inner, "verbosity": "executionStats"})
            assert "COLLSCAN" not in str(plan["queryPlanner"]["winningPlan"]), (
                f"collection scan on {collection}: {query}"
            )
            examined = plan["executionStats"]["totalDocsExamined"]
            if read:
                assert examined <= BOUND, f"{examined} documents read for {collection} {query}"


async def test_every_adapter_query_is_served_by_an_index(
    catalogs: tuple[MongoCatalog, MongoCatalog, Recorder],
) -> None:
    small, large, recorder = catalogs
    for catalog, size in ((small, SMALL), (large, LARGE)):
        recorder.commands.clear()
        recorder.on = True
        await exercise(catalog, size)
        recorder.on = False
        await check_plans(catalog, recorder.commands)
    ratios = await point_costs(small, large)
    # Ten times the documents: an index keeps each point operation's cost about the same
    # (measured 0.6-2x on a loaded machine); a scan makes it about ten times larger (a get
    # whose filter named the tenant first, so the engine took the tenant's index: 39x).
    slow = {name: round(r, 1) for name, r in ratios.items() if r >= 4}
    assert not slow, f"at {LARGE // SMALL}x the documents these took x times as long: {slow}"
