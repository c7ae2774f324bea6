"""Apple live photos: a still and a video uploaded as two files become one photo.

The camera writes one content identifier into both halves (the still's Apple maker note,
the video's ``com.apple.quicktime.content.identifier``); the render keeps it as
``metadata.content_identifier``. Each half, once ready, looks for the other
(:func:`pair_live_photo`): whichever finishes second finds the first, in either upload
order, and when both finish together at least one of them sees the other ready, since each
looks only after its own ready is written. The link makes the video's preview the photo's
``motion`` rendition (``media: motion``, ``metadata.motion.source: apple``) and takes the
video off the listing (``motion_of``); the video's record and original stay, so nothing is
lost and deleting the photo deletes both (:mod:`pipeline.services.delete`).
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.models import MOTION, VIDEO_PREVIEW, ImageRecord
from pipeline.services.ports import Catalog

SOURCE = "apple"


async def pair_live_photo(catalog: Catalog, record: ImageRecord) -> ImageRecord | None:
    """Link ``record`` (just ready) with its other half, if that is ready too; returns the
    photo it linked, else None. Raises :class:`~pipeline.domain.errors.CatalogError`."""
    identifier = record.metadata.get("content_identifier")
    if not isinstance(identifier, str) or not identifier:
        return None
    halves = await catalog.live_partners(record.tenant, identifier)
    photos = sorted((r for r in halves if r.media != "video" and _free(r)), key=lambda r: r.seq)
    clips = sorted(
        (r for r in halves if r.media == "video" and VIDEO_PREVIEW in r.renditions),
        key=lambda r: r.seq,
    )
    if not photos or not clips:
        return None
    photo, video = photos[0], clips[0]  # the first upload of each, if a half came twice
    if _linked(photo, video):
        return None
    about: dict[str, Any] = {
        "source": SOURCE,
        "duration_seconds": video.metadata.get("duration_seconds", video.duration_seconds),
        "video_codec": video.metadata.get("video_codec"),
        "video_id": video.id,
    }
    return photo if await catalog.link_motion(photo.tenant, photo.id, video, about) else None


def linked_video(photo: ImageRecord) -> str | None:
    """The id of the live photo video that plays in ``photo`` (None: none)."""
    about = photo.metadata.get("motion")
    if isinstance(about, dict) and about.get("source") == SOURCE:
        video = about.get("video_id")
        return video if isinstance(video, str) else None
    return None


def _free(photo: ImageRecord) -> bool:
    """No motion of its own: a Google or Samsung motion photo keeps the one it carries."""
    return MOTION not in photo.renditions or linked_video(photo) is not None


def _linked(photo: ImageRecord, video: ImageRecord) -> bool:
    clip = photo.renditions.get(MOTION)
    return (
        video.motion_of == photo.id
        and clip is not None
        and clip.key == video.renditions[VIDEO_PREVIEW].key
    )
