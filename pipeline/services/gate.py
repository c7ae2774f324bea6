"""The ingest gate: decide, as an upload streams past, whether it may be kept.

This is the one seam between the ingest service and how an upload is inspected. The default,
:class:`ScanningGate`, feeds every chunk to the one-pass header scanner
(:class:`~pipeline.imaging.scan.HeaderScanner`: sniff, header, limits) on its way to the
store, so metadata of any size before the header never gets a valid photo refused, and the
memory held stays bounded. Its final answer is :attr:`Admitted.verdict`; the service deletes
a stored body that the verdict refuses ("a refused upload keeps nothing").
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from pipeline.domain.errors import EmptyUpload, UploadTooLarge
from pipeline.imaging.scan import BUFFER_BOUND, HeaderScanner, ImageHeader
from pipeline.runtime.settings import LimitsSettings

HELD_BYTES = BUFFER_BOUND
"""At most this much of an upload (plus one chunk) is held before storing starts: the bound
the scanner keeps for itself, so an upload in flight costs two of it whatever the file."""


@dataclass(frozen=True)
class Admitted:
    """An upload the gate let through so far.

    ``chunks`` yields the whole body from its first byte; ``verdict()`` is called once they
    are drained and returns the header or raises an :class:`~pipeline.domain.errors.InputError`.
    """

    mime: str
    chunks: AsyncIterator[bytes]
    verdict: Callable[[], ImageHeader]


class IngestGate(Protocol):
    async def admit(self, body: AsyncIterator[bytes]) -> Admitted:
        """Raise an :class:`~pipeline.domain.errors.InputError` for a body refused early."""
        ...


@dataclass
class CountedBody:
    """Counts and hashes (SHA-256) an upload's chunks as they pass; enforces the byte limit."""

    source: AsyncIterator[bytes]
    max_bytes: int
    size: int = 0
    sha256: hashlib._Hash = field(default_factory=hashlib.sha256)

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self.source:
            self.size += len(chunk)
            if self.size > self.max_bytes:
                raise UploadTooLarge(
                    f"upload exceeds {self.max_bytes} bytes",
                    public_message=f"upload exceeds the limit of {self.max_bytes} bytes",
                )
            self.sha256.update(chunk)
            yield chunk


class ScanningGate:
    """Scan every chunk on its way to the store; hold the first ones until the header is known.

    Up to :data:`HELD_BYTES` are held before anything is stored, so the usual refusals
    (not an image, a pixel bomb, a file too large for its declared size) come before a byte
    is kept; a header further in, or a count known only at the end (JPEG scans, frames), is
    decided by the verdict once the body has streamed, and the service deletes what it stored.
    """

    def __init__(self, limits: LimitsSettings) -> None:
        self._limits = limits

    async def admit(self, body: AsyncIterator[bytes]) -> Admitted:
        scanner = HeaderScanner(self._limits, videos=True)
        head: list[bytes] = []
        held = 0
        while scanner.header is None and held < HELD_BYTES:
            chunk = await anext(body, None)
            if chunk is None:
                break
            scanner.feed(chunk)  # raises an InputError as soon as a limit breaks
            head.append(chunk)
            held += len(chunk)
        if held == 0:
            raise EmptyUpload("empty body", public_message="the upload is empty")
        # The record's type comes from the verdict; this only labels the stored object.
        mime = scanner.header.mime if scanner.header else "application/octet-stream"
        return Admitted(mime, _scanned(head, body, scanner), scanner.finish)


async def _scanned(
    head: list[bytes], rest: AsyncIterator[bytes], scanner: HeaderScanner
) -> AsyncIterator[bytes]:
    for chunk in head:
        yield chunk
    async for chunk in rest:
        scanner.feed(chunk)
        yield chunk
