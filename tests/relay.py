"""A TCP relay that a test can stall: the client's bytes stop flowing on command.

Used where a test must interrupt a client mid-upload: waiting for "the upload has started"
and then signalling races the upload itself on a fast or busy machine (a 110 MB upload to
loopback takes ~4 s). Behind a stalled relay the client blocks in ``send`` once the socket
buffers are full, so it is certainly mid-upload when the test signals it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class StallableRelay:
    """Relays 127.0.0.1:``port`` to ``target``; ``stall()`` stops copying, ``flow()`` resumes."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []

    def __enter__(self) -> StallableRelay:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed.set()
        self._flowing.set()
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def stall(self) -> None:
        self._flowing.clear()

    def flow(self) -> None:
        self._flowing.set()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(self._target)
            except OSError:
                return
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._copy, args=(source, sink), daemon=True).start()

    def _copy(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                self._flowing.wait()
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
