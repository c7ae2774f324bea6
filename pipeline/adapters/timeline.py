"""The timeline's skip list: which days of a tenant's timeline hold photos.

``taken_key`` is sparse from day to day (10**8 a day), and SecantusDB reads every document
of a range before it applies a limit, so growing slices over empty ground (years without
photos, or between screenshots uploaded today and photos taken last year) would end in one
slice that spans a whole dense stretch: 1,500 documents for a page of 51 in
test_catalog_plans. The timeline is read day by day instead: ``timeline_days`` (one small
document per tenant and day, ``_id`` = ``tenant|day``, ``n`` photos that landed on it) says
which days to read. Consecutive days of GROUP photos or fewer are read in one range query
(a page over sparse years is a few queries, not one per day); a bigger day is read in
slices that grow over its own photos only (dense: within a day the key is the upload
sequence). ``n`` is never decremented (a day emptied by deletes costs a read of nothing),
so it bounds what reading the day can return.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from pipeline.adapters import windows
from pipeline.domain.messages import utcnow
from pipeline.domain.search import SEQ_SPAN, time_key

Document = dict[str, Any]

#: ``taken_key`` units in one day.
DAY_SPAN = SEQ_SPAN
#: Days asked for at once while walking down the timeline.
DAYS_BATCH = 32
#: Consecutive days holding at most this many photos together are read in one query (a
#: day by itself is read in slices over its own sequence when it holds more).
GROUP = 256


def day_of(key: int) -> int:
    """The day (since 1900-01-01) a ``taken_key`` falls on."""
    return key // DAY_SPAN


class TimelineDays:
    """Typed access to ``timeline_days``: ``n`` counts the photos that landed on the day
    (never taken back: an upper bound of what a read of the day returns)."""

    def __init__(self, days: AsyncCollection[Document]) -> None:
        self.days = days

    async def mark(self, tenant: str, keys: Iterable[int]) -> None:
        """Count the photos of these ``taken_key``\\ s on their days."""
        for day, n in sorted(Counter(day_of(k) for k in keys).items()):
            await self.days.update_one(
                {"_id": f"{tenant}|{day}"},
                {"$setOnInsert": {"tenant": tenant, "day": day}, "$inc": {"n": n}},
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
        reader = _Walk(images, query, limit, top_seq)
        hi = below
        while not reader.full and hi > floor:
            want = limit - len(reader.found)
            days = await self._below(str(query["tenant"]), hi, floor, want)
            if not days:
                break
            hi = await reader.days(days, hi, floor)
        return reader.found

    async def _below(self, tenant: str, hi: int, floor: int, want: int) -> list[tuple[int, int]]:
        """(day, n) with a key in ``[floor, hi)``, latest first, until they hold ``want``
        photos or DAYS_BATCH days: days after tomorrow (a camera's clock set wrong) by one
        read, then slices down from tomorrow, growing over empty ground."""
        top, low = day_of(hi - 1), day_of(floor)
        tomorrow = day_of(time_key(utcnow())) + 1
        query: Document = {"tenant": tenant}
        if top > tomorrow:
            window = {**query, "day": {"$gt": tomorrow, "$lte": top}}
            future = [doc async for doc in self.days.find(window).sort("day", -1)]
            if future:
                return [(int(d["day"]), int(d.get("n", 1))) for d in future]
        found: list[tuple[int, int]] = []
        upper, width = min(top, tomorrow) + 1, DAYS_BATCH * 2
        while upper > low and len(found) < DAYS_BATCH and sum(n for _, n in found) < want:
            lower = max(low, upper - width)
            window = {**query, "day": {"$gte": lower, "$lt": upper}}
            docs = [doc async for doc in self.days.find(window).sort("day", -1)]
            found += [(int(d["day"]), int(d.get("n", 1))) for d in docs]
            upper, width = lower, width * (windows.GROWTH if docs else windows.EMPTY_GROWTH)
        return found


class _Walk:
    """One page's walk: small days read together, a big day in slices of its own."""

    def __init__(
        self, images: AsyncCollection[Document], query: Document, limit: int, top_seq: int
    ) -> None:
        self.images, self.query, self.limit, self.top_seq = images, query, limit, top_seq
        self.found: list[Document] = []

    @property
    def full(self) -> bool:
        return len(self.found) >= self.limit

    async def days(self, days: list[tuple[int, int]], hi: int, floor: int) -> int:
        """Read ``days`` (latest first, all below ``hi``); where the walk stands after."""
        group_low, total = None, 0
        for day, n in days:
            start = max(floor, day * DAY_SPAN)
            if group_low is not None and (n > GROUP or total + n > GROUP):
                hi = await self._range(group_low, hi)
                group_low, total = None, 0
            if self.full:
                return hi
            if n > GROUP:
                self.found += await windows.newest_keyed(
                    self.images, self.query, field="taken_key",
                    below=min(hi, start + self.top_seq + 1), floor=start,
                    limit=self.limit - len(self.found),
                )  # fmt: skip
                hi = start
                if self.full:
                    return hi
                continue
            group_low, total = start, total + n
        if group_low is not None and not self.full:
            hi = await self._range(group_low, hi)
        return hi

    async def _range(self, low: int, hi: int) -> int:
        """Every image of ``[low, hi)`` (days holding GROUP photos at most), latest first."""
        window = {**self.query, "taken_key": {"$gte": low, "$lt": hi}}
        cursor = self.images.find(window).sort("taken_key", -1).limit(self.limit - len(self.found))
        self.found += [doc async for doc in cursor]
        return low
