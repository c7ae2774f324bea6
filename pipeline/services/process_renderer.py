"""Render in child processes that can be killed: a decode that overruns its deadline is stopped.

libvips checks its kill flag only between regions, and libjpeg decodes every scan of a
progressive JPEG inside one call, so neither the render deadline (checked between steps) nor
libvips' own cancellation can stop a decode bomb (a 2 MB JPEG with 14,000 scans: ~100 s of
CPU); killing the process can. :class:`ProcessRenderer` keeps one persistent child per render
slot (no start-up cost per job); when a render overruns ``render_timeout_seconds`` it kills
that child, starts a fresh one, and raises :class:`RenderTimeout`, so the slot is free again.
It implements the same :class:`~pipeline.services.ports.Renderer` port as ``ThreadRenderer``.

Protocol on the child's stdin/stdout (:mod:`.render_wire`): frames of a JSON header with
a 4-byte big-endian length and the binary blobs the header lists; plain data, never pickle.
Request: the original's path (a spool file the parent wrote and removes, :mod:`.spool`), the
spec, the limits and the GPS policy. Replies: ``hello`` (what the sandbox applied, once at
start), ``ok`` (the result, each rendition's bytes a blob), ``error`` (a class of
:mod:`pipeline.domain.errors` and its messages) or ``bug`` (a traceback). The child moves its
stdout aside first, so a stray print from a C library cannot corrupt the stream.

The child runs sandboxed (:mod:`pipeline.runtime.sandbox`): an environment with no secrets,
no network, capped memory and CPU time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from pipeline.domain.errors import (
    PipelineError,
    RenderCrashed,
    RenderOutOfMemory,
    RenderTimeout,
)
from pipeline.imaging.render import RenderResult
from pipeline.imaging.render_file import preview_path, render_file
from pipeline.imaging.spec import RenditionSpec
from pipeline.imaging.video import VideoSpec
from pipeline.runtime import metrics, sandbox
from pipeline.runtime.sandbox import SandboxLimits
from pipeline.runtime.settings import LimitsSettings, WorkerSettings
from pipeline.services import render_wire as wire

log = logging.getLogger(__name__)

_STOP_GRACE_SECONDS = 5.0
_WORKER = WorkerSettings.model_fields
DEFAULT_SANDBOX = SandboxLimits(
    memory_bytes=_WORKER["render_memory_bytes"].default,
    cpu_seconds=_WORKER["render_cpu_seconds"].default,
    lifetime_cpu_seconds=_WORKER["render_process_cpu_seconds"].default,
)
# The child's first statements: sandbox itself while still single-threaded (namespaces need
# it), before any decoder is imported; only then load the renderer.
CHILD_PRELUDE = (
    "import sys\n"
    "from pipeline.runtime.sandbox import enter_child\n"
    "applied = enter_child(sys.argv[2])\n"
)
_CHILD_CODE = (
    CHILD_PRELUDE
    + "from pipeline.services.process_renderer import child_main\nchild_main(applied)\n"
)


async def start_child(
    code: str, limits: SandboxLimits, pass_env: Sequence[str] = ()
) -> asyncio.subprocess.Process:
    """Start ``python -c code`` as a render child is started: the parent's pid and the
    sandbox limits as arguments (``code`` begins with :data:`CHILD_PRELUDE`, which sandboxes
    it), an environment without secrets (the allow-list and ``pass_env``), pipes on stdin
    and stdout, its own session."""
    # Before the child exists: a child of the same uid must not read our environment (the
    # secrets) or memory through /proc.
    sandbox.protect_parent()
    config = json.dumps(
        {
            "memory_bytes": limits.memory_bytes,
            "cpu_seconds": limits.cpu_seconds,
            "lifetime_cpu_seconds": limits.lifetime_cpu_seconds,
        }
    )
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        # The parent's pid: in a container the worker is pid 1, so "my parent is pid 1"
        # cannot mean "my parent died" there.
        str(os.getpid()),
        config,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=2**20,
        # No secrets: the S3 key and the MongoDB URI stay with the parent.
        env=sandbox.child_environment(os.environ, pass_env),
        # Its own session: a Ctrl-C meant for the worker (which drains) must not kill
        # the renders it is draining.
        start_new_session=True,
    )


DEFAULT_VIDEO = VideoSpec()


class _Child:
    """One render process and the pipes to it."""

    def __init__(
        self, process: asyncio.subprocess.Process, limits: SandboxLimits, pass_env: Sequence[str]
    ) -> None:
        self.process = process
        self.limits = limits
        self.pass_env = pass_env
        self.killed = False  # returncode is set only once the child is reaped
        self.sandbox = ""  # what the sandbox applied, from the child's hello
        self.cpu_seconds = 0.0  # CPU the child has used, from its last reply

    @classmethod
    async def start(cls, limits: SandboxLimits, pass_env: Sequence[str] = ()) -> _Child:
        process = await start_child(_CHILD_CODE, limits, pass_env)
        child = cls(process, limits, pass_env)
        try:
            hello, _ = await child.read()
        except BaseException:
            child.kill()
            await process.wait()
            raise
        child.sandbox = str(hello.get("sandbox"))
        return child

    @property
    def alive(self) -> bool:
        return not self.killed and self.process.returncode is None

    @property
    def spent(self) -> bool:
        """Too close to its lifetime CPU budget for another render: replace it."""
        left = self.limits.lifetime_cpu_seconds - self.cpu_seconds
        return left < self.limits.cpu_seconds

    async def call(self, request: bytes) -> tuple[dict[str, Any], list[bytes]]:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(request)
        await stdin.drain()
        return await self.read()

    async def read(self) -> tuple[dict[str, Any], list[bytes]]:
        assert self.process.stdout is not None
        return await wire.read_frame_async(self.process.stdout)

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
    """A render slot and the child serving it (replaced when killed or spent)."""

    def __init__(self, child: _Child) -> None:
        self.child = child

    async def replace(self) -> None:
        self.child.kill()
        await self.child.process.wait()
        self.child = await _Child.start(self.child.limits, self.child.pass_env)


class ProcessRenderer:
    """Render images in ``slots`` persistent, sandboxed child processes (an async context
    manager).

    Implements the :class:`~pipeline.services.ports.Renderer` port (``spec``, ``render``);
    ``render_with`` takes the spec and limits per call. At most ``slots`` renders run at once;
    more wait for a free slot. ``sandbox`` bounds each child's memory and CPU time;
    ``pass_env`` names environment variables the children inherit beyond the allow-list.
    """

    def __init__(
        self,
        spec: Sequence[RenditionSpec],
        limits: LimitsSettings,
        *,
        store_gps: bool,
        slots: int,
        sandbox: SandboxLimits = DEFAULT_SANDBOX,
        video: VideoSpec = DEFAULT_VIDEO,
        pass_env: Sequence[str] = (),
    ) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self._spec = tuple(spec)
        self._limits = limits
        self._store_gps = store_gps
        self._count = slots
        self._sandbox = sandbox
        self._video = video
        self._pass_env = tuple(pass_env)
        self._idle: asyncio.Queue[_Slot] = asyncio.Queue()
        self._slots: list[_Slot] = []

    @property
    def spec(self) -> Sequence[RenditionSpec]:
        return self._spec

    @property
    def sandbox(self) -> str:
        """What the sandbox applied in the children (from the first child's hello)."""
        return self._slots[0].child.sandbox if self._slots else ""

    async def __aenter__(self) -> ProcessRenderer:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start one child per slot."""
        children = await asyncio.gather(
            *(_Child.start(self._sandbox, self._pass_env) for _ in range(self._count))
        )
        self._slots = [_Slot(child) for child in children]
        for slot in self._slots:
            self._idle.put_nowait(slot)
        log.info("render processes started: %d, sandbox: %s", self._count, self.sandbox)

    async def stop(self) -> None:
        """Stop every child (one still rendering is killed after a grace period)."""
        slots, self._slots = self._slots, []
        await asyncio.gather(*(slot.child.stop() for slot in slots))

    async def render(self, original: Path, *, timeout_seconds: float | None = None) -> RenderResult:
        """Render the original at ``original`` with the spec, limits and GPS policy given at
        construction; ``timeout_seconds`` replaces the limits' deadline for this call."""
        limits = self._limits
        if timeout_seconds is not None:
            limits = limits.model_copy(update={"render_timeout_seconds": timeout_seconds})
        result = await self.render_with(original, self._spec, limits, store_gps=self._store_gps)
        metrics.DECODE_SECONDS.observe(result.decode_seconds)
        for rendition in result.renditions:
            metrics.RENDER_SECONDS.labels(rendition=rendition.name).observe(rendition.seconds)
        return result

    async def render_with(
        self,
        original: Path,
        spec: Sequence[RenditionSpec],
        limits: LimitsSettings,
        *,
        store_gps: bool,
    ) -> RenderResult:
        """Render the file ``original`` in a child within ``limits.render_timeout_seconds``.

        The child opens the file; the caller keeps it until this returns. Raises what
        :func:`~pipeline.imaging.render.render_image` raises (the error tree),
        :class:`RenderTimeout` when the deadline passes or the CPU limit is hit (the child is
        killed and replaced), :class:`RenderOutOfMemory` over the memory limit,
        :class:`RenderCrashed` when the child dies, ``RuntimeError`` for a bug in the child.
        """
        request = wire.frame(
            {
                "path": str(original),
                "spec": wire.spec_to_wire(spec),
                "limits": limits.model_dump(mode="json"),
                "store_gps": store_gps,
                "video": dataclasses.asdict(self._video),
            }
        )
        slot = await self._idle.get()
        try:
            header, blobs = await _call(slot, request, limits.render_timeout_seconds)
            if slot.child.spent:
                await slot.replace()
        finally:
            self._idle.put_nowait(slot)
        if header.get("kind") == "ok":
            return wire.parse_result(header, blobs, preview_path(original))
        if header.get("kind") == "error":
            wire.raise_error(header)
        raise RuntimeError(f"render failed in the child process: {header.get('traceback')}")


async def _call(slot: _Slot, request: bytes, timeout: float) -> tuple[dict[str, Any], list[bytes]]:
    """One request/reply on the slot's child; a killed or dead child is replaced."""
    if not slot.child.alive:
        await slot.replace()
    started = time.monotonic()
    try:
        header, blobs = await asyncio.wait_for(slot.child.call(request), timeout)
    except TimeoutError:
        await slot.replace()
        raise RenderTimeout(
            f"render killed after {time.monotonic() - started:.1f} s "
            f"(render_timeout_seconds={timeout:g})",
            public_message=f"rendering took longer than {timeout:g} s",
        ) from None
    except (asyncio.IncompleteReadError, ConnectionError, wire.WireError) as exc:
        slot.child.kill()
        status = await slot.child.process.wait()
        await slot.replace()
        if status == -signal.SIGXCPU:
            cpu = slot.child.limits.cpu_seconds
            raise RenderTimeout(
                f"render stopped at its CPU limit ({cpu:g} s, GALLERY_WORKER_RENDER_CPU_SECONDS)",
                public_message=f"rendering used more than {cpu:g} s of CPU time",
            ) from None
        raise RenderCrashed(
            f"render process died (exit status {status}): {exc}",
            public_message="the renderer crashed on this image",
        ) from exc
    except BaseException:
        slot.child.kill()  # cancelled mid-call: its pipes are out of step; replaced on next use
        raise
    slot.child.cpu_seconds = float(header.get("cpu_seconds", 0.0))
    return header, blobs


# --- the child -------------------------------------------------------------------------------


class _Decoded:
    """The last request's spec and limits, parsed once (they rarely change between jobs)."""

    def __init__(self) -> None:
        self._spec: tuple[str, tuple[RenditionSpec, ...]] | None = None
        self._limits: tuple[str, LimitsSettings] | None = None

    def spec(self, items: list[dict[str, Any]]) -> tuple[RenditionSpec, ...]:
        key = json.dumps(items, sort_keys=True)
        if self._spec is None or self._spec[0] != key:
            self._spec = (key, wire.spec_from_wire(items))
        return self._spec[1]

    def limits(self, values: dict[str, Any]) -> LimitsSettings:
        key = json.dumps(values, sort_keys=True)
        if self._limits is None or self._limits[0] != key:
            self._limits = (key, LimitsSettings.model_validate(values))
        return self._limits[1]


def _serve(requests: BinaryIO, replies: BinaryIO, limits: SandboxLimits) -> None:
    """The child's loop: one render per request until end of input."""
    decoded = _Decoded()
    while (request := wire.read_frame(requests)) is not None:
        sandbox.cpu_deadline(limits)
        header, blobs = _render_one(request[0], decoded, limits)
        # The parent replaces a child about to run out of its lifetime CPU budget.
        header["cpu_seconds"] = sandbox.cpu_used()
        replies.write(wire.frame(header, blobs))
        replies.flush()


def _render_one(
    request: dict[str, Any], decoded: _Decoded, limits: SandboxLimits
) -> tuple[dict[str, Any], list[bytes]]:
    try:
        render_limits = decoded.limits(request["limits"])
        deadline = time.monotonic() + render_limits.render_timeout_seconds
        result = render_file(
            Path(request["path"]),
            decoded.spec(request["spec"]),
            render_limits,
            video=VideoSpec(**request["video"]),
            store_gps=bool(request["store_gps"]),
            deadline=deadline,
        )
        return wire.result_message(result)
    except PipelineError as exc:
        return wire.error_message(exc), []
    except MemoryError:
        mib = limits.memory_bytes // 1024**2
        over = RenderOutOfMemory(
            f"render went over its memory limit ({mib} MiB, GALLERY_WORKER_RENDER_MEMORY_BYTES)",
            public_message="rendering needs more memory than a render may use",
        )
        return wire.error_message(over), []
    except Exception:
        return {"kind": "bug", "traceback": traceback.format_exc()}, []


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


def child_main(applied: sandbox.Applied) -> None:
    """Run in the child process (started as ``python -c``, after
    :func:`~pipeline.runtime.sandbox.enter_child`; pipeline/ has no entry points)."""
    _die_with_parent(int(sys.argv[1]) if len(sys.argv) > 1 else None)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything else written to stdout lands on stderr
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        replies.write(wire.frame({"kind": "hello", "sandbox": applied.describe()}))
        replies.flush()
        _serve(sys.stdin.buffer, replies, applied.limits)
