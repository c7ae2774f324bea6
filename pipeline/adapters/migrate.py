"""Bringing a catalog an earlier version wrote up to date, once, at start.

Images written before the listing sequence existed have no ``seq`` (and were not in any
tenant's or album's counters). The first process to start numbers them, per tenant, in
the order they were created (their ULIDs), below every number given out meanwhile: it
reserves a block of the tenant's sequence, so uploads that complete during the migration
take numbers above it. Usage and album counters grow by what each batch numbered. Every
other process waits for it; one that finds the migration abandoned (its process died) for
``STALE_AFTER`` takes it over: the numbering skips what is numbered already.

Finding the old documents reads the whole collection once (no index holds "no seq"); that is
the one scan, and it happens once per catalog. Progress is logged every batch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pymongo
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from pipeline.adapters.mongo_errors import translated
from pipeline.adapters.tenants import TenantCounters
from pipeline.adapters.timeline import TimelineDays
from pipeline.domain.messages import utcnow
from pipeline.domain.models import ImageRecord

Document = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "image_seq"
SEARCH = "search_fields"
BATCH = 1000
STALE_AFTER = timedelta(minutes=10)
POLL_SECONDS = 1.0


async def migrate_catalog(db: AsyncDatabase[Document]) -> None:
    """Run (or wait for) each migration of :data:`STEPS` in turn unless it is done.
    CatalogError when the catalog fails; a rerun continues where it stopped."""
    for name, step in STEPS:
        await _migrate(db, name, step)


async def _migrate(
    db: AsyncDatabase[Document],
    name: str,
    step: Callable[[AsyncDatabase[Document]], Awaitable[int]],
) -> None:
    marks = db["migrations"]
    owner = f"{socket.gethostname()}/{os.getpid()}"
    while True:
        with translated("read migrations"):
            mark = await marks.find_one({"_id": name})
            if mark is None:
                try:
                    await marks.insert_one({"_id": name, "owner": owner, "started_at": utcnow()})
                except DuplicateKeyError:
                    continue  # another process started it this instant
                break
            if mark.get("done_at") is not None:
                return
            stale = mark["started_at"] < utcnow() - STALE_AFTER
            if stale and await _take_over(db, name, mark, owner):
                break
        log.info("catalog migration %s is running in %s: waiting", name, mark.get("owner"))
        await asyncio.sleep(POLL_SECONDS)
    numbered = await step(db)
    with translated("record migration"):
        await marks.update_one({"_id": name}, {"$set": {"done_at": utcnow(), "numbered": numbered}})


async def _take_over(db: AsyncDatabase[Document], name: str, mark: Document, owner: str) -> bool:
    result = await db["migrations"].update_one(
        {"_id": name, "started_at": mark["started_at"], "done_at": None},
        {"$set": {"owner": owner, "started_at": utcnow()}},
    )
    return result.modified_count == 1


async def _number_images(db: AsyncDatabase[Document]) -> int:
    """Give every image without a ``seq`` one; how many were numbered."""
    images, tenants = db["images"], TenantCounters(db["tenants"])
    # One read of the whole collection, longer than a request may take: no client timeout.
    with pymongo.timeout(None), translated("find images to number"):
        projection = {"_id": 1, "tenant": 1, "bytes": 1, "albums": 1}
        old = [doc async for doc in images.find({"seq": {"$exists": False}}, projection)]
    if not old:
        return 0
    by_tenant: dict[str, list[Document]] = defaultdict(list)
    for doc in old:
        by_tenant[str(doc["tenant"])].append(doc)
    log.info("catalog migration: numbering %d image(s) of %d tenant(s)", len(old), len(by_tenant))
    done = 0
    for tenant, docs in sorted(by_tenant.items()):
        docs.sort(key=lambda d: str(d["_id"]))  # ULIDs: creation order
        first = await tenants.take_seqs(tenant, len(docs))
        for start in range(0, len(docs), BATCH):
            batch = docs[start : start + BATCH]
            await _number_batch(db, tenant, batch, seq=first + start)
            done += len(batch)
            log.info("catalog migration: %d/%d image(s) numbered", done, len(old))
    return done


async def _number_batch(
    db: AsyncDatabase[Document], tenant: str, batch: list[Document], *, seq: int
) -> None:
    """Number ``batch`` (of ``tenant``) from ``seq`` on; count it in usage and albums."""
    images, albums, tenants = db["images"], db["albums"], TenantCounters(db["tenants"])
    ops = [
        UpdateOne({"_id": doc["_id"], "seq": {"$exists": False}}, {"$set": {"seq": seq + i}})
        for i, doc in enumerate(batch)
    ]
    with translated("number images"):
        result = await images.bulk_write(ops, ordered=False)
    if result.modified_count != len(batch):
        # Numbered meanwhile by a process this one took over from: count only what is new.
        log.warning("catalog migration: %d of a batch of %d were numbered already",
                    len(batch) - result.modified_count, len(batch))  # fmt: skip
        return
    await tenants.add_usage(tenant, len(batch), sum(int(d.get("bytes", 0)) for d in batch))
    members = Counter(album for doc in batch for album in doc.get("albums") or [])
    with translated("count album images"):
        for album, count in members.items():
            await albums.update_one({"_id": album, "tenant": tenant}, {"$inc": {"images": count}})


async def _derive_search_fields(db: AsyncDatabase[Document]) -> int:
    """Give every image without a ``taken_key`` its timeline and search fields (written
    before the timeline and the search existed); how many were given them."""
    images = db["images"]
    with pymongo.timeout(None), translated("find images without search fields"):
        old = [doc async for doc in images.find({"taken_key": {"$exists": False}})]
    for start in range(0, len(old), BATCH):
        batch = [ImageRecord.model_validate(doc) for doc in old[start : start + BATCH]]
        fields = [r.search_fields() for r in batch]
        ops = [UpdateOne({"_id": r.id}, {"$set": f}) for r, f in zip(batch, fields, strict=True)]
        with translated("write search fields"):
            await images.bulk_write(ops, ordered=False)
            for tenant in {r.tenant for r in batch}:
                keys = [
                    f["taken_key"] for r, f in zip(batch, fields, strict=True) if r.tenant == tenant
                ]
                await TimelineDays(db["timeline_days"]).mark(tenant, keys)
        log.info("catalog migration: %d/%d image(s) given search fields", start + len(batch),
                 len(old))  # fmt: skip
    return len(old)


#: Every migration, in the order they run: (name recorded in ``migrations``, the step).
STEPS: tuple[tuple[str, Callable[[AsyncDatabase[Document]], Awaitable[int]]], ...] = (
    (NAME, _number_images),
    (SEARCH, _derive_search_fields),
)
