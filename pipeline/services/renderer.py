"""The default :class:`~pipeline.services.ports.Renderer`: libvips in a worker thread.

libvips releases the GIL, so ``asyncio.to_thread`` renders in parallel with the event loop
(heartbeats and other jobs keep running). The worker uses the sandboxed
:class:`~pipeline.services.process_renderer.ProcessRenderer` instead; this one serves the
services' unit tests and tools.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from pipeline.imaging.render import RenderResult
from pipeline.imaging.render_file import render_file
from pipeline.imaging.spec import RenditionSpec
from pipeline.imaging.video import VideoSpec
from pipeline.runtime import metrics
from pipeline.runtime.settings import LimitsSettings


class ThreadRenderer:
    """Renders with :func:`~pipeline.imaging.render.render_image` through ``asyncio.to_thread``.

    ``limits.render_timeout_seconds`` bounds each render (checked between steps).
    """

    def __init__(
        self,
        spec: Sequence[RenditionSpec],
        limits: LimitsSettings,
        *,
        store_gps: bool,
        video: VideoSpec | None = None,
    ) -> None:
        self._video = video if video is not None else VideoSpec()
        self._spec = tuple(spec)
        self._limits = limits
        self._store_gps = store_gps

    @property
    def spec(self) -> Sequence[RenditionSpec]:
        return self._spec

    async def render(self, original: Path, *, timeout_seconds: float | None = None) -> RenderResult:
        timeout = timeout_seconds or self._limits.render_timeout_seconds
        return await asyncio.to_thread(self._render, original, timeout)

    def _render(self, original: Path, timeout: float) -> RenderResult:
        deadline = time.monotonic() + timeout
        result = render_file(
            original,
            self._spec,
            self._limits,
            video=self._video,
            store_gps=self._store_gps,
            deadline=deadline,
        )
        metrics.DECODE_SECONDS.observe(result.decode_seconds)
        for rendition in result.renditions:
            metrics.RENDER_SECONDS.labels(rendition=rendition.name).observe(rendition.seconds)
        return result
