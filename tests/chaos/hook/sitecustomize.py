"""Loaded by workers the fault tests start with this folder on PYTHONPATH (and by their render
processes, which are passed ``CHAOS_CRASH_HOOK`` through ``GALLERY_WORKER_RENDER_ENV_PASS``):
a render of an original that carries a marker kills its own process (``CHAOS-KILL-RENDER``,
as the OOM killer would) or the worker above it (``CHAOS-KILL-WORKER``). Without
``CHAOS_CRASH_HOOK=1`` it does nothing."""

from __future__ import annotations

import os
import signal

if os.environ.get("CHAOS_CRASH_HOOK") == "1":
    import pipeline.imaging.render as _render

    _original = _render.render_image

    def _render_image(original: bytes, *args: object, **kwargs: object) -> object:
        if b"CHAOS-KILL-WORKER" in original:
            os.kill(os.getppid(), signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)
        if b"CHAOS-KILL-RENDER" in original:
            os.kill(os.getpid(), signal.SIGKILL)
        return _original(original, *args, **kwargs)  # type: ignore[arg-type]

    _render.render_image = _render_image  # type: ignore[assignment]
