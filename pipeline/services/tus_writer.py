"""One PATCH of a resumable upload into the object store, without rewriting what is stored.

Every ``part_bytes`` become a multipart part as they fill. What a PATCH leaves short of a part
is stored as one more tail segment, under a name of its own: a PATCH writes only the bytes it
received, never the tail before it (an earlier design rewrote the whole tail per PATCH: 4.7 MB
written per byte sent by a 1-byte PATCH). When the segments and the new bytes fill a part,
the segments are read once and sent on in that part. So each byte received is written at
most twice (its segment, its part) before the store assembles the object; with the minimum
PATCH size (``GALLERY_TUS_MIN_PATCH_BYTES``) a tail has at most ``part_bytes /
min_patch_bytes`` segments. The last PATCH assembles the object under the image's key.
Memory: the segments plus the new bytes, under two parts.
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
        self._tail_keys = list(record.tail_keys)
        self._tail_size = record.tail_size
        self._new_tail: str | None = None
        self.received = 0

    @property
    def length(self) -> int:
        """The upload's whole length in bytes (``Upload-Length``)."""
        return self._record.length

    @property
    def offset(self) -> int:
        return self._record.offset + self.received

    async def start(self) -> None:
        """Nothing to read up front: the tail is read only when it goes into a part."""

    async def feed(self, chunk: bytes) -> None:
        if self.offset + len(chunk) > self._record.length:
            raise UploadTooLarge(
                "PATCH runs past Upload-Length",
                public_message=f"the upload is {self._record.length} bytes (Upload-Length)",
            )
        self._buffer += chunk
        self.received += len(chunk)
        while self._tail_size + len(self._buffer) >= self._part_bytes:
            await self._flush(self._part_bytes)

    async def finish(self) -> UploadRecord:
        """Store what is buffered; the upload's new state (still locked, not yet saved)."""
        if self.offset == self._record.length:
            await self._assemble()
        elif self._tail_size + len(self._buffer) >= MIN_PART_BYTES:
            await self._flush(self._tail_size + len(self._buffer))
        elif self._buffer:
            key = names.upload_tail_key(self._record.tenant, self._record.id, self._token)
            await self._store.put_bytes(key, bytes(self._buffer), content_type=_OCTETS)
            self._new_tail = key
            self._tail_keys.append(key)
            self._tail_size += len(self._buffer)
            self._buffer.clear()
        done = self.offset == self._record.length
        return self._record.model_copy(
            update={
                "offset": self.offset,
                "parts": () if done else tuple(self._parts),
                "multipart_id": None if done else self._multipart_id,
                "tail_keys": () if done else tuple(self._tail_keys),
                "tail_size": 0 if done else self._tail_size,
            }
        )

    async def discard(self) -> None:
        """Undo what this PATCH stored: a new tail segment, and a multipart upload it started."""
        if self._new_tail is not None:
            await self._store.delete(self._new_tail)
        if self._multipart_id is not None and self._record.multipart_id is None:
            await self._store.abort_multipart(self._record.key, self._multipart_id)

    async def _take(self, size: int) -> bytes:
        """The first ``size`` bytes of tail + buffer; the tail segments are used up (their
        objects are removed once the new state is recorded)."""
        data = bytearray()
        for key in self._tail_keys:
            data += await self._store.get_bytes(key)
        self._tail_keys, self._tail_size = [], 0
        need = size - len(data)
        data += self._buffer[:need]
        del self._buffer[:need]
        return bytes(data)

    async def _flush(self, size: int) -> None:
        data = await self._take(size)
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
            data = await self._take(self._tail_size + len(self._buffer))
            await self._store.put_bytes(self._record.key, data, content_type=kind)
            return
        if self._tail_size or self._buffer:
            await self._flush(self._tail_size + len(self._buffer))
        parts = [(p.number, p.etag) for p in self._parts]
        await self._store.complete_multipart(self._record.key, self._multipart_id, parts)
