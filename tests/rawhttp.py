"""HTTP/1.1 over a plain socket, for what a client library hides: malformed requests,
``Expect: 100-continue``, and what follows a HEAD on the same keep-alive connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, Self

DEADLINE = 30.0


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


class RawConnection:
    """One TCP connection to ``host:port``; write bytes, read responses one by one."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Self:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), DEADLINE)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self, *, head: bool = False) -> RawResponse:
        """The next response; ``head``: it answers a HEAD, so it has no body."""
        block = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), DEADLINE)
        lines = block.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = b""
        if not head and status not in {100, 204, 304} and length:
            body = await asyncio.wait_for(self.reader.readexactly(length), DEADLINE)
        return RawResponse(status, headers, body)

    async def rest(self) -> bytes:
        """Everything until the server closes the connection."""
        return await asyncio.wait_for(self.reader.read(), DEADLINE)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """A well-formed request (``Host`` and ``Content-Length`` added)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: gallery.test"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
