"""A TCP relay that a test can stall: a client's upload stops flowing on command.

Used where a test must interrupt a client mid-upload: waiting for "the upload has started"
and then signalling races the upload itself on a fast or busy machine (a 110 MB upload to
loopback takes ~4 s). ``stall()`` stops the client-to-server bytes of the connections open
at that moment (a stuck upload connection); answers still flow back, and connections opened
later flow normally, as on a real network where one transfer hangs.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class StallableRelay:
    """Relays 127.0.0.1:``port`` to ``target``; ``stall()``/``flow()`` (see the module doc)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._gates: list[threading.Event] = []  # one per connection: set = flowing

    def __enter__(self) -> StallableRelay:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed.set()
        self.flow()
        with self._lock:
            sockets = [self._listener, *self._sockets]
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def stall(self) -> None:
        with self._lock:
            for gate in self._gates:
                gate.clear()

    def flow(self) -> None:
        with self._lock:
            for gate in self._gates:
                gate.set()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            gate = threading.Event()
            gate.set()
            with self._lock:
                self._sockets += [client, upstream]
                self._gates.append(gate)
            threading.Thread(target=self._copy, args=(client, upstream, gate), daemon=True).start()
            threading.Thread(target=self._copy, args=(upstream, client, None), daemon=True).start()

    def _copy(
        self, source: socket.socket, sink: socket.socket, gate: threading.Event | None
    ) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                while gate is not None and not gate.wait(0.5):
                    if self._closed.is_set():
                        return
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
