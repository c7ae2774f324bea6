"""The upload baseline: a bare aiohttp server that streams each request body to a file.

No sniffing, hashing, probing, catalog or bus: what receiving an upload costs at least with
the same HTTP stack and chunk size as the gateway. ``bench.upload --baseline`` runs it as a
child process and uploads the same bodies to it in the same run::

    python -m bench.baseline_server --port 8099 --dir /tmp/uploads
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from aiohttp import web

CHUNK = 256 * 1024  # the gateway's READ_CHUNK


async def receive(request: web.Request) -> web.Response:
    folder: Path = request.app["dir"]
    path = folder / f"upload-{os.getpid()}-{id(request)}"
    size = 0
    with path.open("wb") as out:
        async for chunk in request.content.iter_chunked(CHUNK):
            # A thread hop per chunk, like the gateway's store, so the loop never blocks on disk.
            await asyncio.to_thread(out.write, chunk)
            size += len(chunk)
        await asyncio.to_thread(os.fsync, out.fileno())
    path.unlink()
    return web.json_response({"bytes": size}, status=202)


async def ready(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    app = web.Application(client_max_size=0)
    app["dir"] = args.dir
    app.router.add_post("/v1/images", receive)
    app.router.add_get("/readyz", ready)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
