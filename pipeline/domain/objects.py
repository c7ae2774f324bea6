"""What an object store's listing says about one object."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StoredObject:
    """One listed object: its key, size in bytes and last-modified time (UTC, aware).

    The filesystem store reports the file's mtime, S3 the listing's ``LastModified``.
    """

    key: str
    size: int
    modified: datetime
