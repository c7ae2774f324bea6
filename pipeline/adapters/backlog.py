"""The render backlog as the catalog holds it: images ``queued`` for a render, by media.

Every image waiting for a render is ``queued`` in the catalog, whether its job sits in the
render stream or is held back there by the per-tenant fairness cap (the stream admits at
most ``GALLERY_JOBS_TENANT_QUEUED`` jobs per tenant share; docs/architecture.md,
"Fairness"). So the count of ``queued`` images is the whole backlog, which the consumer's
pending count (at most the cap per active tenant) is not.

Each count is a range of the ``status_content_type`` index (``status`` first): its cost
grows with the backlog, never with the library (a million ready photos are outside the
range). On MongoDB the count reads index keys only; SecantusDB reads the queued documents.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from pipeline.adapters.mongo_errors import translated

Document = dict[str, Any]

#: ``content_type`` values of videos (``video/...``): "0" is the byte after "/".
_VIDEO_TYPES: Document = {"$gte": "video/", "$lt": "video0"}


class BacklogCatalog:
    """:class:`~pipeline.services.ports.Backlog` over the ``images`` collection."""

    def __init__(self, images: AsyncCollection[Document]) -> None:
        self.images = images

    async def queued_by_media(self) -> dict[str, int]:
        """``{"photo": n, "video": m}``: images of every tenant waiting for a render, by
        :attr:`~pipeline.domain.models.ImageRecord.media`. Raises CatalogError."""
        with translated("count queued images"):
            queued = await self.images.count_documents({"status": "queued"})
            videos = await self.images.count_documents(
                {"status": "queued", "content_type": _VIDEO_TYPES}
            )
        # Two reads a moment apart: a video queued in between must not make photos negative.
        return {"photo": max(queued - videos, 0), "video": videos}
