"""The ingest gate: decide, as an upload streams past, whether it may be kept.

This is the one seam between the ingest service and how an upload is inspected. The default,
:class:`ScanningGate`, feeds every chunk to the one-pass header scanner
(:class:`~pipeline.imaging.scan.HeaderScanner`: sniff, header, limits) on its way to the
store, so metadata of any size before the header never gets a valid photo refused, and the
memory held stays bounded. Its final answer is :attr:`Admitted.verdict`; the service deletes
a stored body that the verdict refuses ("a refused upload keeps nothing").
:class:`HeadProbeGate` is the older gate (buffer ``probe_bytes``, probe, then stream).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from pipeline.domain.errors import (
    EmptyUpload,
    UndecodableImage,
    UnsupportedMediaType,
    UploadTooLarge,
)
from pipeline.imaging.probe import ImageHeader, probe_header
from pipeline.imaging.scan import HeaderScanner
from pipeline.imaging.sniff import sniff_mime
from pipeline.runtime.settings import LimitsSettings


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

    Up to ``limits.probe_bytes`` are held before anything is stored, so the usual refusals
    (not an image, a pixel bomb, a file too large for its declared size) come before a byte
    is kept; a header further in, or a count known only at the end (JPEG scans, frames), is
    decided by the verdict once the body has streamed, and the service deletes what it stored.
    """

    def __init__(self, limits: LimitsSettings) -> None:
        self._limits = limits

    async def admit(self, body: AsyncIterator[bytes]) -> Admitted:
        scanner = HeaderScanner(self._limits)
        head: list[bytes] = []
        held = 0
        while scanner.header is None and held < self._limits.probe_bytes:
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


class HeadProbeGate:
    """Buffer ``limits.probe_bytes``, sniff and probe them, then stream everything through."""

    def __init__(self, limits: LimitsSettings) -> None:
        self._limits = limits

    async def admit(self, body: AsyncIterator[bytes]) -> Admitted:
        head, exhausted = await _read_head(body, self._limits.probe_bytes)
        # Chunks may overshoot probe_bytes; the probe sees exactly the configured limit.
        probed = head[: self._limits.probe_bytes]
        header = _probe(probed, exhausted and len(probed) == len(head), self._limits)
        return Admitted(header.mime, _replay(head, body, exhausted), lambda: header)


async def _read_head(body: AsyncIterator[bytes], wanted: int) -> tuple[bytes, bool]:
    """At least ``wanted`` bytes (whole chunks), and whether the body ended first."""
    parts: list[bytes] = []
    got = 0
    while got < wanted:
        chunk = await anext(body, None)
        if chunk is None:
            return b"".join(parts), True
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts), False


async def _replay(head: bytes, rest: AsyncIterator[bytes], exhausted: bool) -> AsyncIterator[bytes]:
    if head:
        yield head
    if exhausted:
        return
    async for chunk in rest:
        yield chunk


def _probe(head: bytes, complete: bool, limits: LimitsSettings) -> ImageHeader:
    if not head:
        raise EmptyUpload("empty body", public_message="the upload is empty")
    if sniff_mime(head) is None:
        raise UnsupportedMediaType(
            "unknown magic bytes",
            public_message="not a supported image (JPEG, PNG, GIF, WebP, AVIF, HEIC, TIFF)",
        )
    try:
        return probe_header(head, limits, complete=complete)
    except UndecodableImage as exc:
        if complete:
            raise
        # Only the first probe_bytes were read: say so, it may be the limit, not the file.
        raise UndecodableImage(
            str(exc),
            public_message=f"{exc.public_message} within its first {limits.probe_bytes} bytes"
            " (the gateway's header probe limit)",
        ) from exc
