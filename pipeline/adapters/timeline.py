"""The timeline's skip list: which days of a tenant's timeline hold photos.

``taken_key`` is sparse from day to day (10**8 a day), and SecantusDB reads every document
of a range before it applies a limit, so growing slices over empty ground (years without
photos, or between screenshots uploaded today and photos taken last year) would end in one
slice that spans a whole dense stretch: 1,500 documents for a page of 51 in
test_catalog_plans. The timeline is read day by day instead: ``timeline_days`` (one small
document per tenant and day, ``_id`` = ``tenant|day``) says which days to read, and each day
is read in slices that grow over its own photos only (dense: within a day the key is the
upload sequence). A day is marked when a photo lands on it and never unmarked (a day
emptied by deletes costs one empty read), so the list is written once per day, not per
photo.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from pipeline.adapters import windows
from pipeline.domain.search import SEQ_SPAN

Document = dict[str, Any]

#: ``taken_key`` units in one day.
DAY_SPAN = SEQ_SPAN
#: Days asked for at once while walking down the timeline.
DAYS_BATCH = 32


def day_of(key: int) -> int:
    """The day (since 1900-01-01) a ``taken_key`` falls on."""
    return key // DAY_SPAN


class TimelineDays:
    """Typed access to ``timeline_days``."""

    def __init__(self, days: AsyncCollection[Document]) -> None:
        self.days = days

    async def mark(self, tenant: str, keys: Iterable[int]) -> None:
        """Note the days of these ``taken_key``\\ s as holding photos (a no-op for known days)."""
        for day in sorted({day_of(k) for k in keys}):
            await self.days.update_one(
                {"_id": f"{tenant}|{day}"},
                {"$setOnInsert": {"tenant": tenant, "day": day}},
                upsert=True,
            )

    async def read(
        self,
        images: AsyncCollection[Document],
        query: Document,
        *,
        below: int,
        floor: int,
        limit: int,
        top_seq: int,
    ) -> list[Document]:
        """Up to ``limit`` images matching ``query`` (which names the tenant) with
        ``floor <= taken_key < below``, latest first, read day by day; ``top_seq`` is the
        tenant's highest ``seq`` (no key of a day lies above the day's start plus it)."""
        tenant = str(query["tenant"])
        found: list[Document] = []
        hi = below
        while len(found) < limit and hi > floor:
            days = await windows.newest_keyed(
                self.days,
                {"tenant": tenant},
                field="day",
                below=day_of(hi - 1) + 1,
                floor=day_of(floor),
                limit=DAYS_BATCH,
            )
            if not days:
                break
            for doc in days:
                start = max(floor, int(doc["day"]) * DAY_SPAN)
                found += await windows.newest_keyed(
                    images,
                    query,
                    field="taken_key",
                    below=min(hi, start + top_seq + 1),
                    floor=start,
                    limit=limit - len(found),
                )
                hi = start
                if len(found) >= limit:
                    break
        return found
