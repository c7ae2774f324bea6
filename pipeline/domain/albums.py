"""Albums: a tenant's named sets of images, as the catalog records them.

Membership is stored on the image (``ImageRecord.albums``), so an image can be in several
albums, deleting an album leaves its images alone, and listing an album's images pages by
the images' listing sequence exactly like the plain listing.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from pipeline.domain.labels import label
from pipeline.domain.messages import utcnow


class AlbumRecord(BaseModel):
    """One album document; ``id`` is a ULID (see :func:`pipeline.domain.models.new_image_id`)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str = Field(alias="_id")
    tenant: str
    # NFC on the way out too: a name stored before names were normalised still compares equal.
    name: Annotated[str, AfterValidator(same_name)]
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    images: int = 0
    """How many images are in the album: a counter the catalog keeps, never a count."""

    def to_document(self) -> dict[str, object]:
        return self.model_dump(by_alias=True)


@dataclass(frozen=True)
class AlbumView:
    """An album with what is derived from its images: how many, and the newest as cover."""

    record: AlbumRecord
    image_count: int
    cover_image_id: str | None


def same_name(name: str) -> str:
    """``name`` in Unicode Normalization Form C, the one form album names are kept and
    compared in: "é" typed as one code point or as "e" + a combining accent (macOS file
    names, some input methods) is one name, so one album."""
    return unicodedata.normalize("NFC", name)


def album_name(value: object) -> str:
    """A clean album name: a string of 1..200 characters once trimmed, in NFC (see
    :func:`same_name`); else InputError."""
    return label(same_name(value) if isinstance(value, str) else value, "name", "bad album name")
