"""Guarded single-document writes that read the document back, without ``findAndModify``.

SecantusDB re-asserts a ``findAndModify``'s query as ``{_id, $and: [query]}`` for its
write, and a filter with a top-level operator bypasses every index: each
``find_one_and_update`` on ``images`` read the whole collection (3.6-5.6 s at 100,000
images, against 14 ms for the same ``update_one``). So a guarded transition is an
``update_one`` (the guard is still atomic: it matches or it does not) followed by a point
read of the document by ``_id``; a delete reads first, then deletes under the same guard.
The read-back may show a later write to the same document: callers only use it as "the
document after my write, or newer".
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

Document = dict[str, Any]


async def update_then_read(
    collection: AsyncCollection[Document], query: Document, update: Document
) -> Document | None:
    """Apply ``update`` to the one document matching ``query`` (which names its ``_id``);
    the document afterwards, or None when the guard matched nothing."""
    result = await collection.update_one(query, update)
    if result.matched_count == 0:
        return None
    return await collection.find_one({"_id": query["_id"]})


async def read_then_delete(
    collection: AsyncCollection[Document], query: Document
) -> Document | None:
    """Delete the one document matching ``query`` (which names its ``_id``); the deleted
    document, or None when nothing matched (or another writer deleted it first)."""
    doc = await collection.find_one(query)
    if doc is None:
        return None
    result = await collection.delete_one(query)
    return doc if result.deleted_count == 1 else None
