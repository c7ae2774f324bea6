"""Drive a format parser over a byte stream in one pass, holding only what a read still needs.

Each format parser is a generator that yields what it wants next from the stream - ``Read(n)``
(the next n bytes, sent back), ``Skip(n)`` (discard n bytes, however many chunks they span),
``Peek(offset, n)`` (bytes already passed, from a small look-back window),
``SKIP_SUB_BLOCKS`` (GIF data sub-blocks up to their terminator) or ``FIND_MARKER`` (JPEG: the
next marker, skipping entropy-coded data) - and :class:`Driver` satisfies those requests from
the chunks as they arrive. Skipped bytes are never copied, so a 50 MB APP1 segment or an
``mdat`` box costs nothing; the only bytes kept between chunks are the start of a pending
``Read`` (at most :data:`MAX_READ`) or one ``0xFF`` that may begin a JPEG marker. Offsets only
move forward: a parser that wants an earlier offset must do without it (see ``tiff``).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Final

from pipeline.domain.errors import PipelineError, UndecodableImage

MAX_READ: Final = 64 * 1024
"""Largest single read a parser may ask for: a JPEG segment (65533) fits, nothing bigger."""

LOOKBACK: Final = 64 * 1024
"""Bytes already passed that a parser may still ``Peek`` at (a TIFF SubIFD just before IFD0)."""

BUFFER_BOUND: Final = MAX_READ + LOOKBACK + 64
"""Most bytes a scanner holds between two ``feed`` calls, whatever the file (sniff head incl.)."""


class EndOfStream(Exception):
    """Thrown into a parser when the stream ends: one that can report what it has, catches it."""


@dataclass(frozen=True, slots=True)
class Read:
    size: int


@dataclass(frozen=True, slots=True)
class Skip:
    size: int


@dataclass(frozen=True, slots=True)
class Peek:
    """Bytes at an absolute ``offset`` already passed: sent back whole, or ``b""`` if they are
    no longer within the last :data:`LOOKBACK` bytes."""

    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class _SkipSubBlocks:
    pending: int = 0  # bytes of the current sub-block still to skip


@dataclass(frozen=True, slots=True)
class _FindMarker:
    pass


@dataclass(frozen=True, slots=True)
class CountRest:
    """Count ``pattern`` (2 bytes) in the rest of the stream, reporting counts to ``add``."""

    pattern: bytes
    add: Callable[[int], None]


Request = Read | Skip | Peek | _SkipSubBlocks | _FindMarker | CountRest
Parser = Generator[Request, bytes, None]

SKIP_SUB_BLOCKS: Final = _SkipSubBlocks()
FIND_MARKER: Final = _FindMarker()
# A JPEG marker (ITU T.81 B.1.1.2): 0xFF then a code that is not a stuffed zero, a restart
# marker inside entropy-coded data (RST0-7) or another fill 0xFF.
_MARKER = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")


def _skip_sub_blocks(data: bytes, pos: int) -> tuple[int, bool]:
    """Skip GIF sub-blocks (a length byte, then data) from ``pos``; whether the 0 was reached."""
    end = len(data)
    while pos < end:
        size = data[pos]
        pos += 1
        if size == 0:
            return pos, True
        pos += size
    return pos, False


class Driver:
    """Feed chunks to one parser. Raises whatever the parser raises (the error tree)."""

    def __init__(self, parser: Parser) -> None:
        self._parser = parser
        self._held = b""
        self._window = b""  # the last LOOKBACK bytes consumed, ending at self._base
        self._base = 0  # absolute offset of the first byte not yet consumed
        self._request: Request | None = None
        self._advance(None)

    @property
    def done(self) -> bool:
        """The parser has everything it wants; the rest of the stream is not looked at."""
        return self._request is None

    @property
    def held_bytes(self) -> int:
        return len(self._held) + len(self._window)

    def close(self) -> None:
        """Tell the parser the stream has ended (it may still report what it found)."""
        if self._request is not None:
            self._held = b""
            try:
                self._advance(None, end=True)
            except EndOfStream:
                self._request = None

    def feed(self, chunk: bytes) -> None:
        if self._request is None or not chunk:
            return
        data = self._held + chunk if self._held else chunk
        self._held = b""
        pos = self._consume(data)
        if self._request is not None:
            self._held = data[pos:]
            self._window = (self._window + data[max(0, pos - LOOKBACK) : pos])[-LOOKBACK:]
            self._base += pos

    def _consume(self, data: bytes) -> int:
        pos, end = 0, len(data)
        while (request := self._request) is not None:
            if isinstance(request, Read):
                if end - pos < request.size:
                    return pos
                pos += request.size
                self._advance(data[pos - request.size : pos])
            elif isinstance(request, Peek):
                self._advance(self._behind(request, data, pos))
            elif isinstance(request, Skip):
                take = min(request.size, end - pos)
                pos += take
                if take < request.size:
                    self._request = Skip(request.size - take)
                    return pos
                self._advance(b"")
            elif isinstance(request, _SkipSubBlocks):
                pos, finished = _skip_sub_blocks(data, pos + request.pending)
                if not finished:  # the rest of a sub-block (or the next length) comes later
                    self._request = _SkipSubBlocks(max(pos - end, 0))
                    return min(pos, end)
                self._advance(b"")
            elif isinstance(request, CountRest):
                request.add(data.count(request.pattern, pos))
                # Keep a trailing half of the pattern: its other half may start the next chunk.
                return end - 1 if data.endswith(request.pattern[:1]) else end
            else:
                found = _MARKER.search(data, pos)
                if found is None:
                    # Keep a trailing 0xFF: the marker code may be the next chunk's first byte.
                    return end - 1 if data.endswith(b"\xff") else end
                pos = found.end()
                self._advance(data[pos - 1 : pos])
        return pos

    def _behind(self, request: Peek, data: bytes, pos: int) -> bytes:
        """The requested bytes from the window and this chunk's consumed part, or ``b""``."""
        start = request.offset - (self._base - len(self._window))
        stop = start + request.size
        if start < 0 or stop > len(self._window) + pos or request.size > MAX_READ:
            return b""
        window = len(self._window)
        if start < window:
            return self._window[start : min(stop, window)] + data[: max(0, stop - window)]
        return data[start - window : stop - window]

    def _advance(self, value: bytes | None, *, end: bool = False) -> None:
        try:
            parser = self._parser
            request = parser.throw(EndOfStream()) if end else parser.send(value)  # type: ignore[arg-type]
        except StopIteration:
            self._request = None
            return
        except PipelineError:
            raise
        except (struct.error, IndexError, ValueError, UnicodeDecodeError) as exc:
            # A parser indexing past a short field: the header is malformed.
            raise UndecodableImage(f"malformed header: {exc}") from exc
        if isinstance(request, Read) and not 0 <= request.size <= MAX_READ:
            raise UndecodableImage(f"a header field of {request.size} bytes is implausible")
        if isinstance(request, Skip) and request.size < 0:
            raise UndecodableImage("a header length points backwards")
        self._request = request
