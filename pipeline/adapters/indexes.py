"""Every index of the catalog, declared in one table, and the step that creates them.

Each query the adapters run is served by one of these in the order it returns (see
docs/architecture.md, "Indexes"): no request path or periodic task scans a collection or
sorts more than a page in memory. To serve a new query, add its index here (and the query's
case to ``tests/integration/test_catalog_plans.py``); an index whose name is in
:data:`RETIRED` is dropped at start, so an existing catalog follows the table.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from pipeline.adapters.albums import rename_twins
from pipeline.adapters.mongo_errors import translated

Document = dict[str, Any]


@dataclass(frozen=True)
class Index:
    """One index: ``keys`` as PyMongo takes them, ``why`` the queries it serves."""

    collection: str
    name: str
    keys: list[tuple[str, int]]
    why: str
    options: Document = field(default_factory=dict)


INDEXES: tuple[Index, ...] = (
    # images: the listing pages by the tenant's completion sequence (``seq``, newest first).
    Index("images", "tenant_seq", [("tenant", ASCENDING), ("seq", DESCENDING)],
          "listing, album-free pages; reconcile and backfill walks"),
    Index("images", "tenant_status_seq",
          [("tenant", ASCENDING), ("status", ASCENDING), ("seq", DESCENDING)],
          "listing with ?status=; the render refill (a tenant's queued images, oldest first)"),
    Index("images", "tenant_albums_seq",
          [("tenant", ASCENDING), ("albums", ASCENDING), ("seq", DESCENDING)],
          "listing with ?album=, an album's cover, taking a deleted album off its images"),
    Index("images", "tenant_albums_status_seq",
          [("tenant", ASCENDING), ("albums", ASCENDING), ("status", ASCENDING),
           ("seq", DESCENDING)],
          "listing with ?album= and ?status="),
    # The timeline (``?order=taken``) pages by ``taken_key`` (capture time, seq), latest first.
    Index("images", "tenant_taken", [("tenant", ASCENDING), ("taken_key", DESCENDING)],
          "the timeline (?order=taken), album-free"),
    Index("images", "tenant_albums_taken",
          [("tenant", ASCENDING), ("albums", ASCENDING), ("taken_key", DESCENDING)],
          "the timeline of an album (?album= or a share link's)"),
    Index("images", "tenant_albums_status_taken",
          [("tenant", ASCENDING), ("albums", ASCENDING), ("status", ASCENDING),
           ("taken_key", DESCENDING)],
          "the timeline of an album with ?status="),
    Index("images", "tenant_status_taken",
          [("tenant", ASCENDING), ("status", ASCENDING), ("taken_key", DESCENDING)],
          "the timeline with ?status="),
    Index("timeline_days", "tenant_day", [("tenant", ASCENDING), ("day", DESCENDING)],
          "the timeline's days with photos, latest first (adapters/timeline.py)"),
    # Search: ``terms`` is multikey (words, their prefixes, camera:/lens:/kind: facets).
    Index("images", "tenant_terms_seq",
          [("tenant", ASCENDING), ("terms", ASCENDING), ("seq", DESCENDING)],
          "search and filters (?q=, ?camera=, ?lens=, ?kind=), newest upload first"),
    Index("images", "tenant_terms_taken",
          [("tenant", ASCENDING), ("terms", ASCENDING), ("taken_key", DESCENDING)],
          "search and filters on the timeline (?order=taken, ?taken_after=, ?taken_before=)"),
    Index("images", "tenant_sha256", [("tenant", ASCENDING), ("sha256", ASCENDING)],
          "dedup: one document per tenant and content", {"unique": True}),
    Index("images", "tenant_content_identifier",
          [("tenant", ASCENDING), ("metadata.content_identifier", ASCENDING)],
          "a live photo's still and video finding each other (Apple's content identifier)"),
    Index("images", "status_updated", [("status", ASCENDING), ("updated_at", ASCENDING)],
          "sweeper: queued images untouched for stale_after"),
    Index("images", "status_lease", [("status", ASCENDING), ("lease_expires_at", ASCENDING)],
          "sweeper: processing images under a lease expired for stale_after"),
    Index("images", "status_content_type",
          [("status", ASCENDING), ("content_type", ASCENDING)],
          "the render backlog gauge: queued images, and queued videos (a content_type range)"),
    # tenants: one counter document per tenant (``_id`` = tenant): no secondary index.
    Index("albums", "tenant_id", [("tenant", ASCENDING), ("_id", DESCENDING)],
          "the album listing, newest first"),
    Index("albums", "tenant_name", [("tenant", ASCENDING), ("name", ASCENDING)],
          "one album per name and tenant (409 album_exists); finding the album a name took",
          {"unique": True}),
    Index("api_keys", "tenant", [("tenant", ASCENDING)], "keys of a tenant"),
    Index("api_keys", "key_id", [("key_id", ASCENDING)], "revoking a key by its id"),
    Index("uploads", "expires_at", [("expires_at", ASCENDING)], "tus expiry sweep"),
    Index("uploads", "state", [("state", ASCENDING)], "reconcile: keys of open uploads"),
    Index("images", "trashed_at", [("trashed_at", ASCENDING)],
          "trash sweeper: images trashed before the retention, every tenant"),
    Index("images", "tenant_trashed_at", [("tenant", ASCENDING), ("trashed_at", DESCENDING)],
          "a tenant's trash, latest trashed first; emptying it"),
    Index("shares", "token_hash", [("token_hash", ASCENDING)],
          "opening a share link by its token's hash", {"unique": True}),
    Index("shares", "tenant_id", [("tenant", ASCENDING), ("_id", DESCENDING)],
          "a tenant's share links, newest first"),
    Index("rate_windows", "expires_at", [("expires_at", ASCENDING)],
          "TTL: old rate windows go", {"expireAfterSeconds": 0}),
    Index("quota_reservations", "tenant_expires",
          [("tenant", ASCENDING), ("expires_at", ASCENDING)],
          "quota: a tenant's live reservations (uploads in flight)"),
    Index("quota_reservations", "expires_at", [("expires_at", ASCENDING)],
          "TTL: reservations of crashed uploads go", {"expireAfterSeconds": 0}),
    # quota_locks: one document per tenant (``_id`` = tenant) while an admission runs.
    # album_deletions: one document per album being deleted (``_id`` = album), read whole.
)  # fmt: skip

#: Indexes earlier versions made that no query uses any more: dropped at start.
RETIRED: tuple[tuple[str, str], ...] = (
    ("images", "tenant_id"),  # the listing paged by _id (taken at upload start)
    ("images", "tenant_albums_id"),
    ("images", "tenant_status_id"),  # the render refill, now by seq on tenant_status_seq
)


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    """Create every index of :data:`INDEXES` (a no-op for those that exist) and drop the
    :data:`RETIRED` ones. Raises CatalogError when the catalog refuses."""
    with translated("create indexes"):
        if "tenant_name" not in await db["albums"].index_information():
            # A catalog from before names were unique may hold two albums of one name.
            await rename_twins(db["albums"])
        for index in INDEXES:
            await db[index.collection].create_index(index.keys, name=index.name, **index.options)
        for collection, name in RETIRED:
            # Not there: a new catalog, or dropped by an earlier start.
            with contextlib.suppress(OperationFailure):
                await db[collection].drop_index(name)
