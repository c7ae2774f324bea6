"""Pages of a tenant's images read as ranges of ``seq``, so no catalog sorts a whole library.

The embedded catalog (SecantusDB) uses an index to pick candidates but has no limit
pushdown: ``find({tenant}).sort(seq).limit(50)`` decodes and sorts every document of the
tenant (5.5 s at 100,000). A range on the index's last field is read as a range, so the
newest-first page is asked for in slices below the cursor, ``[hi - width, hi)``, each slice
``GROWTH`` times wider than the last, until the page is full or the sequence starts. A
slice holds at most ``width`` numbers, so a page reads about ``limit`` documents where
nothing was deleted or filtered out, and a few times that where much was. MongoDB plans
each slice as one bounded index scan too.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

Document = dict[str, Any]

#: Each slice is this many times wider than the one before it.
GROWTH = 4
#: The first slice: ``FIRST_WIDTH_PAGES`` pages' worth of numbers (deletions leave gaps).
FIRST_WIDTH_PAGES = 2


async def newest(
    collection: AsyncCollection[Document],
    query: Document,
    *,
    below: int,
    limit: int,
    projection: Document | None = None,
) -> list[Document]:
    """Up to ``limit`` documents matching ``query`` with ``seq < below``, highest seq first."""
    found: list[Document] = []
    hi, width = below, max(limit * FIRST_WIDTH_PAGES, 16)
    while len(found) < limit and hi > 1:
        lo = max(1, hi - width)
        window = {**query, "seq": {"$gte": lo, "$lt": hi}}
        cursor = collection.find(window, projection).sort("seq", DESCENDING)
        found.extend([doc async for doc in cursor.limit(limit - len(found))])
        hi, width = lo, width * GROWTH
    return found


async def oldest(
    collection: AsyncCollection[Document], query: Document, *, upto: int, limit: int
) -> list[Document]:
    """Up to ``limit`` documents matching ``query`` with ``seq <= upto``, lowest seq first:
    :func:`newest` the other way up, slices growing from the start of the sequence."""
    found: list[Document] = []
    lo, width = 1, max(limit * FIRST_WIDTH_PAGES, 16)
    while len(found) < limit and lo <= upto:
        hi = min(upto + 1, lo + width)
        window = {**query, "seq": {"$gte": lo, "$lt": hi}}
        cursor = collection.find(window).sort("seq", ASCENDING)
        found.extend([doc async for doc in cursor.limit(limit - len(found))])
        lo, width = hi, width * GROWTH
    return found


async def ascending(
    collection: AsyncCollection[Document], query: Document, *, above: int, upto: int
) -> list[Document]:
    """Every document matching ``query`` with ``above < seq <= upto``, lowest seq first:
    one bounded batch of a walk."""
    window = {**query, "seq": {"$gt": above, "$lte": upto}}
    return [doc async for doc in collection.find(window).sort("seq", ASCENDING)]
