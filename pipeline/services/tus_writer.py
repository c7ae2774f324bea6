"""One PATCH of a resumable upload into the object store, the way tusd's S3 store does it.

Bytes continue from the upload's tail object (what an earlier PATCH left short of a part).
Every ``part_bytes`` become a multipart part as they fill; at the end of the PATCH the rest
becomes a part too if it reaches S3's 5 MiB minimum, else a new tail object (under a new
name, so the tail this PATCH continued from stays intact until the catalog records the new
state). The last PATCH assembles the object under the image's key. Memory: one part.
"""

from __future__ import annotations

from pipeline.domain import names
from pipeline.domain.errors import UploadTooLarge
from pipeline.domain.objects import ObjectStore
from pipeline.domain.uploads import Part, UploadRecord

#: S3's smallest part but the last (UploadPart): shorter remainders go to a tail object.
MIN_PART_BYTES = 5 * 1024 * 1024
_OCTETS = "application/octet-stream"


class PatchWriter:
    """Appends one PATCH body to ``record``; :meth:`finish` gives the state to record."""

    def __init__(self, store: ObjectStore, record: UploadRecord, *, part_bytes: int, token: str):
        self._store = store
        self._record = record
        self._part_bytes = part_bytes
        self._token = token
        self._buffer = bytearray()
        self._parts = list(record.parts)
        self._multipart_id = record.multipart_id
        self._new_tail: str | None = None
        self.received = 0

    @property
    def offset(self) -> int:
        return self._record.offset + self.received

    async def start(self) -> None:
        if self._record.tail_key is not None:
            self._buffer += await self._store.get_bytes(self._record.tail_key)

    async def feed(self, chunk: bytes) -> None:
        if self.offset + len(chunk) > self._record.length:
            raise UploadTooLarge(
                "PATCH runs past Upload-Length",
                public_message=f"the upload is {self._record.length} bytes (Upload-Length)",
            )
        self._buffer += chunk
        self.received += len(chunk)
        while len(self._buffer) >= self._part_bytes:
            await self._flush(self._part_bytes)

    async def finish(self) -> UploadRecord:
        """Store what is buffered; the upload's new state (still locked, not yet saved)."""
        tail_key, tail_size = None, 0
        if self.offset == self._record.length:
            await self._assemble()
        elif len(self._buffer) >= MIN_PART_BYTES:
            await self._flush(len(self._buffer))
        elif self._buffer:
            tail_key = names.upload_tail_key(self._record.tenant, self._record.id, self._token)
            self._new_tail = tail_key
            await self._store.put_bytes(tail_key, bytes(self._buffer), content_type=_OCTETS)
            tail_size = len(self._buffer)
        done = self.offset == self._record.length
        return self._record.model_copy(
            update={
                "offset": self.offset,
                "parts": () if done else tuple(self._parts),
                "multipart_id": None if done else self._multipart_id,
                "tail_key": tail_key,
                "tail_size": tail_size,
            }
        )

    async def discard(self) -> None:
        """Undo what this PATCH stored: a new tail, and a multipart upload it started."""
        if self._new_tail is not None:
            await self._store.delete(self._new_tail)
        if self._multipart_id is not None and self._record.multipart_id is None:
            await self._store.abort_multipart(self._record.key, self._multipart_id)

    async def _flush(self, size: int) -> None:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        if self._multipart_id is None:
            kind = self._record.mime or _OCTETS
            self._multipart_id = await self._store.create_multipart(
                self._record.key, content_type=kind
            )
        number = len(self._parts) + 1
        etag = await self._store.upload_part(self._record.key, self._multipart_id, number, data)
        self._parts.append(Part(number=number, etag=etag, size=len(data)))

    async def _assemble(self) -> None:
        if self._multipart_id is None:  # smaller than a part: one plain object
            kind = self._record.mime or _OCTETS
            await self._store.put_bytes(self._record.key, bytes(self._buffer), content_type=kind)
            return
        if self._buffer:
            await self._flush(len(self._buffer))
        parts = [(p.number, p.etag) for p in self._parts]
        await self._store.complete_multipart(self._record.key, self._multipart_id, parts)
