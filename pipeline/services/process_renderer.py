"""Render in child processes that can be killed: a decode that overruns its deadline is stopped.

libvips checks its kill flag only between regions, and libjpeg decodes every scan of a
progressive JPEG inside one call, so neither the render deadline (checked between steps) nor
libvips' own cancellation can stop a decode bomb (a 2 MB JPEG with 14,000 scans: ~100 s of
CPU); killing the process can. :class:`ProcessRenderer` keeps one persistent child per render
slot (no start-up cost per job); when a render overruns ``render_timeout_seconds`` it kills
that child, starts a fresh one, and raises :class:`RenderTimeout`, so the slot is free again.
It implements the same :class:`~pipeline.services.ports.Renderer` port as ``ThreadRenderer``.

Protocol on the child's stdin/stdout: frames of an 8-byte big-endian length and a pickle.
Request ``(original, spec, limits, store_gps)``; reply ``("ok", RenderResult)``,
``("error", module, class name, message, public message)`` for the error tree, or
``("bug", traceback)``. The child moves its stdout aside first, so a stray print from a C
library cannot corrupt the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import pickle
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from types import TracebackType
from typing import Any, BinaryIO

from pipeline.domain.errors import PipelineError, RenderCrashed, RenderTimeout
from pipeline.imaging.render import RenderResult, render_image
from pipeline.imaging.spec import RenditionSpec
from pipeline.runtime import metrics
from pipeline.runtime.settings import LimitsSettings

_LENGTH = 8
_STOP_GRACE_SECONDS = 5.0


class _Child:
    """One render process and the pipes to it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.killed = False  # returncode is set only once the child is reaped

    @classmethod
    async def start(cls) -> _Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from pipeline.services.process_renderer import child_main; child_main()",
            # The parent's pid: in a container the worker is pid 1, so "my parent is pid 1"
            # cannot mean "my parent died" there.
            str(os.getpid()),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**20,
            # Its own session: a Ctrl-C meant for the worker (which drains) must not kill
            # the renders it is draining.
            start_new_session=True,
        )
        return cls(process)

    @property
    def alive(self) -> bool:
        return not self.killed and self.process.returncode is None

    async def call(self, request: bytes) -> bytes:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(len(request).to_bytes(_LENGTH, "big") + request)
        await stdin.drain()
        size = int.from_bytes(await stdout.readexactly(_LENGTH), "big")
        return await stdout.readexactly(size)

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
        self.killed = True

    async def stop(self) -> None:
        """Close stdin (the child exits at end of input); kill it if it does not."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), _STOP_GRACE_SECONDS)
        except TimeoutError:
            self.kill()
            await self.process.wait()


class _Slot:
    """A render slot and the child serving it (replaced when killed)."""

    def __init__(self, child: _Child) -> None:
        self.child = child

    async def replace(self) -> None:
        self.child.kill()
        await self.child.process.wait()
        self.child = await _Child.start()


class ProcessRenderer:
    """Render images in ``slots`` persistent child processes (an async context manager).

    Implements the :class:`~pipeline.services.ports.Renderer` port (``spec``, ``render``);
    ``render_with`` takes the spec and limits per call. At most ``slots`` renders run at once;
    more wait for a free slot.
    """

    def __init__(
        self,
        spec: Sequence[RenditionSpec],
        limits: LimitsSettings,
        *,
        store_gps: bool,
        slots: int,
    ) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self._spec = tuple(spec)
        self._limits = limits
        self._store_gps = store_gps
        self._count = slots
        self._idle: asyncio.Queue[_Slot] = asyncio.Queue()
        self._slots: list[_Slot] = []

    @property
    def spec(self) -> Sequence[RenditionSpec]:
        return self._spec

    async def __aenter__(self) -> ProcessRenderer:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start one child per slot."""
        children = await asyncio.gather(*(_Child.start() for _ in range(self._count)))
        self._slots = [_Slot(child) for child in children]
        for slot in self._slots:
            self._idle.put_nowait(slot)

    async def stop(self) -> None:
        """Stop every child (one still rendering is killed after a grace period)."""
        slots, self._slots = self._slots, []
        await asyncio.gather(*(slot.child.stop() for slot in slots))

    async def render(self, original: bytes) -> RenderResult:
        """Render with the spec, limits and GPS policy given at construction."""
        result = await self.render_with(
            original, self._spec, self._limits, store_gps=self._store_gps
        )
        metrics.DECODE_SECONDS.observe(result.decode_seconds)
        for rendition in result.renditions:
            metrics.RENDER_SECONDS.labels(rendition=rendition.name).observe(rendition.seconds)
        return result

    async def render_with(
        self,
        original: bytes,
        spec: Sequence[RenditionSpec],
        limits: LimitsSettings,
        *,
        store_gps: bool,
    ) -> RenderResult:
        """Render ``original`` in a child within ``limits.render_timeout_seconds``.

        Raises what :func:`~pipeline.imaging.render.render_image` raises (the error tree),
        :class:`RenderTimeout` when the deadline passes (the child is killed and replaced),
        :class:`RenderCrashed` when the child dies, ``RuntimeError`` for a bug in the child.
        """
        request = pickle.dumps((original, tuple(spec), limits, store_gps))
        slot = await self._idle.get()
        try:
            reply = await _call(slot, request, limits.render_timeout_seconds)
        finally:
            self._idle.put_nowait(slot)
        return _unpack(pickle.loads(reply))


async def _call(slot: _Slot, request: bytes, timeout: float) -> bytes:
    """One request/reply on the slot's child; a killed or dead child is replaced."""
    if not slot.child.alive:
        await slot.replace()
    started = time.monotonic()
    try:
        return await asyncio.wait_for(slot.child.call(request), timeout)
    except TimeoutError:
        await slot.replace()
        raise RenderTimeout(
            f"render killed after {time.monotonic() - started:.1f} s "
            f"(render_timeout_seconds={timeout:g})",
            public_message=f"rendering took longer than {timeout:g} s",
        ) from None
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        status = await slot.child.process.wait()
        await slot.replace()
        raise RenderCrashed(
            f"render process died (exit status {status}): {exc}",
            public_message="the renderer crashed on this image",
        ) from exc
    except BaseException:
        slot.child.kill()  # cancelled mid-call: its pipes are out of step; replaced on next use
        raise


def _unpack(reply: tuple[Any, ...]) -> RenderResult:
    kind = reply[0]
    if kind == "ok":
        result: RenderResult = reply[1]
        return result
    if kind == "error":
        _, module, name, message, public = reply
        cls = getattr(importlib.import_module(module), name, None)
        if isinstance(cls, type) and issubclass(cls, PipelineError):
            raise cls(message, public_message=public)
    raise RuntimeError(f"render failed in the child process: {reply[-1]}")


def _serve(requests: BinaryIO, replies: BinaryIO) -> None:
    """The child's loop: one render per request until end of input."""
    while header := requests.read(_LENGTH):
        original, spec, limits, store_gps = pickle.loads(
            requests.read(int.from_bytes(header, "big"))
        )
        deadline = time.monotonic() + limits.render_timeout_seconds
        reply: tuple[Any, ...]
        try:
            reply = (
                "ok",
                render_image(original, spec, limits, store_gps=store_gps, deadline=deadline),
            )
        except PipelineError as exc:
            cls = type(exc)
            reply = ("error", cls.__module__, cls.__qualname__, str(exc), exc.public_message)
        except Exception:
            reply = ("bug", traceback.format_exc())
        data = pickle.dumps(reply)
        replies.write(len(data).to_bytes(_LENGTH, "big") + data)
        replies.flush()


def _die_with_parent(parent: int | None) -> None:
    """Linux: SIGKILL this child when the worker dies, so a SIGKILLed (or OOM-killed) worker
    leaves no decode running on (prctl PR_SET_PDEATHSIG, prctl(2)). ``parent`` is the pid
    the worker passed; the child exits at once if it was reparented before the call."""
    if sys.platform != "linux":
        return
    import ctypes  # only here: the child's one use of it

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:  # the parent died before the call
        os._exit(1)


def child_main() -> None:
    """Run in the child process (started as ``python -c``; pipeline/ has no entry points)."""
    _die_with_parent(int(sys.argv[1]) if len(sys.argv) > 1 else None)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything else written to stdout lands on stderr
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        _serve(sys.stdin.buffer, replies)
