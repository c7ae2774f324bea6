"""A test-side Server-Sent Events reader (https://html.spec.whatwg.org/#server-sent-events).

Keeps what it read past the current frame, so frames that arrive in one chunk are all seen.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(frozen=True)
class Frame:
    id: str | None
    event: str
    data: dict[str, Any]


class SseReader:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self._buffer = b""

    async def next(self, timeout: float = 10.0) -> Frame:
        """The next frame with data (comments are keepalives); TimeoutError after ``timeout``."""
        async with asyncio.timeout(timeout):
            while True:
                while b"\n\n" in self._buffer:
                    raw, self._buffer = self._buffer.split(b"\n\n", 1)
                    frame = _parse(raw.decode())
                    if frame is not None:
                        return frame
                chunk = await self.response.content.readany()
                if not chunk:
                    raise EOFError("the event stream ended")
                self._buffer += chunk

    async def until(self, event: str, timeout: float = 10.0) -> Frame:
        """Skip frames until one of type ``event``."""
        async with asyncio.timeout(timeout):
            while (frame := await self.next(timeout)).event != event:
                pass
            return frame

    def close(self) -> None:
        self.response.close()


def _parse(raw: str) -> Frame | None:
    fields: dict[str, str] = {}
    for line in raw.splitlines():
        name, _, value = line.partition(":")
        if name:  # a line starting with ":" is a comment
            fields[name] = value.removeprefix(" ")
    if "data" not in fields:
        return None
    return Frame(fields.get("id"), fields.get("event", "message"), json.loads(fields["data"]))
