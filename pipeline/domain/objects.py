"""The object-store protocol (one for services and adapters) and what it says about objects.

Two implementations exist: :class:`pipeline.adapters.storage.s3.S3ObjectStore` (production, any
S3-compatible server) and :class:`pipeline.adapters.storage.filesystem.FilesystemObjectStore`
(the single-machine default).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

#: Bytes per chunk of a streamed read unless the caller asks otherwise.
DEFAULT_CHUNK_SIZE = 256 * 1024


@dataclass(frozen=True)
class StoredObject:
    """One listed object: its key, size in bytes and last-modified time (UTC, aware).

    The filesystem store reports the file's mtime, S3 the listing's ``LastModified``.
    """

    key: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class ObjectInfo:
    """What :meth:`ObjectStore.stat` knows about one object."""

    key: str
    size: int
    content_type: str
    etag: str


class ObjectStore(Protocol):
    """A flat key -> bytes store with streaming reads and writes.

    Every method raises :class:`~pipeline.domain.errors.StorageError` (retryable) when the backend
    fails, :class:`~pipeline.domain.errors.StorageTimeout` when it is too slow, and
    :class:`~pipeline.domain.errors.InputError` for a key that
    :func:`pipeline.adapters.storage.base.check_key` refuses.
    """

    async def check(self) -> None:
        """Verify the bucket (or root folder) is reachable and writable.

        Raises :class:`~pipeline.domain.errors.ConfigurationError` when the settings are wrong
        (missing bucket, bad credentials, root not a writable folder) and
        :class:`~pipeline.domain.errors.StorageError` when the backend cannot be reached.
        """
        ...

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> int:
        """Store the concatenated chunks under ``key``; return the number of bytes written.

        Memory stays flat (at most about one S3 part is buffered). If ``chunks`` raises, or
        the task is cancelled, nothing is left behind and the original exception propagates.
        """
        ...

    async def create_multipart(self, key: str, *, content_type: str) -> str:
        """Start a multipart upload that outlives one request; return its id.

        With :meth:`upload_part`, :meth:`complete_multipart` and :meth:`abort_multipart` it
        follows S3's multipart API (the filesystem store keeps part files): parts are numbered
        from 1, every part but the last is at least 5 MiB, the object appears only on
        completion. Resumable uploads use it; :meth:`put_stream` does it within one call.
        """
        ...

    async def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        """Store part ``number``, replacing an earlier part of that number; return its ETag.

        :class:`~pipeline.domain.errors.ObjectNotFound` if the upload is gone.
        """
        ...

    async def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> None:
        """Join ``parts`` ((number, ETag), in order) into ``key``; unlisted parts are dropped."""
        ...

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop the upload and its parts; an upload already gone is not an error."""
        ...

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store ``data`` under ``key``, replacing any existing object."""
        ...

    async def get_bytes(self, key: str) -> bytes:
        """Return the whole object; :class:`~pipeline.domain.errors.ObjectNotFound` if missing."""
        ...

    def stream(
        self,
        key: str,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        *,
        start: int = 0,
        end: int | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """Yield the object's bytes ``start`` (inclusive) to ``end`` (exclusive; None = the
        end of the object) in chunks of at most ``chunk_size`` bytes. The caller keeps the
        range inside the object (a ``stat`` first): past the end, fewer bytes come back.

        An async generator: :class:`~pipeline.domain.errors.ObjectNotFound` is raised on the first
        iteration if the object is missing. If you stop early, close it (``aclose()``, or
        ``contextlib.aclosing``) so the S3 connection is released at once.
        """
        ...

    async def stat(self, key: str) -> ObjectInfo:
        """Size, content type and ETag; raises :class:`~pipeline.domain.errors.ObjectNotFound`."""
        ...

    async def delete(self, key: str) -> None:
        """Delete the object; deleting a missing object is not an error."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix``; return how many.

        An empty prefix is refused (:class:`~pipeline.domain.errors.InputError`): wiping the whole
        store is never what a caller means.
        """
        ...

    async def list_keys(self, prefix: str) -> list[str]:
        """Every key starting with ``prefix``, sorted."""
        ...

    async def list_objects(self, prefix: str) -> list[StoredObject]:
        """Every object under ``prefix`` with its size and last-modified time (UTC), by key.

        The filesystem store reports the file's mtime, S3 the listing's ``LastModified``;
        reconcile uses it to leave young objects alone.
        """
        ...

    async def presigned_get(
        self,
        key: str,
        expires_seconds: int | None = None,
        *,
        content_type: str | None = None,
        disposition: str | None = None,
    ) -> str | None:
        """A URL that lets anyone GET the object until it expires, or ``None``.

        ``None`` means the store cannot hand out URLs (the filesystem store): the gateway
        streams the object itself instead. ``expires_seconds`` defaults to the configured
        lifetime. ``content_type`` and ``disposition`` are signed into the URL: the store
        answers with them whatever was stored, and a changed URL fails its signature.
        """
        ...
