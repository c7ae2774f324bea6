"""Workers that die: SIGKILLed mid-run, killed by the photo they render, stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from functools import partial

import pytest

from pipeline.adapters.storage import open_object_store
from pipeline.runtime.settings import WorkerSettings
from tests.chaos.harness import TENANT, ChaosStack, Figures, wait_for
from tests.chaos.photos import crashing, photos

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]


async def test_twenty_worker_sigkills_during_a_300_image_run(
    tmp_path_factory: pytest.TempPathFactory, report: list[Figures]
) -> None:
    # The kills are not the photos' fault: allow more crashes than one photo could meet here.
    worker = WorkerSettings(concurrency=1, drain_timeout_seconds=15.0, max_crashes=25)
    stack = await ChaosStack(tmp_path_factory.mktemp("kills"), workers=3, worker=worker).start()
    try:
        started = time.monotonic()
        uploading = asyncio.create_task(stack.upload_all(photos(300, start=10_000)))
        rng = random.Random(20)
        kills = 0
        while kills < 20:
            # Spread the kills over the run: the next one once 12 more images are ready.
            goal = kills * 12 + 6
            await wait_for(partial(_ready_total, stack, goal), 240, f"{goal} images ready")
            assert stack.stack is not None
            live = [w for w in stack.stack.workers if w.alive()]
            if live:
                os.kill(rng.choice(live).process.pid, signal.SIGKILL)
                kills += 1
        ids = await uploading
        await stack.wait_ready(ids, timeout=300)
        elapsed = time.monotonic() - started
        figures = await _run_figures(stack, ids)
    finally:
        await stack.close()
    figures |= {"kills": kills, "worker_restarts": stack.restarts, "wall_s": round(elapsed)}
    report.append(
        Figures(
            "test_workers.py::test_twenty_worker_sigkills_during_a_300_image_run",
            "20 SIGKILLs of workers (3 workers) during a 300-image run",
            "0 lost, 0 duplicate renditions, every image ready",
            figures,
        )
    )
    assert figures["ready"] == 300
    assert figures["duplicate_renditions"] == 0


async def _ready_total(stack: ChaosStack, goal: int) -> bool:
    async with stack.catalog() as catalog:
        return await catalog.images.count_documents({"status": "ready"}) >= goal


async def _run_figures(stack: ChaosStack, ids: list[str]) -> dict[str, int]:
    """Ready images, extra claims (redeliveries) and stored renditions beyond the spec."""
    async with stack.catalog() as catalog:
        docs = [d async for d in catalog.images.find({"_id": {"$in": ids}})]
    async with open_object_store(stack.settings) as store:
        stored = await store.list_keys(f"renditions/{TENANT}/")
    per_image = len(docs[0]["renditions"])
    return {
        "ready": sum(d["status"] == "ready" for d in docs),
        "redeliveries": sum(d["attempts"] - 1 for d in docs),
        "crash_takeovers": sum(d["crashes"] for d in docs),
        "renditions_stored": len(stored),
        "duplicate_renditions": len(stored) - per_image * len(ids),
    }


async def test_a_photo_that_crashes_its_worker_every_time_fails_and_holds_nobody_up(
    main_stack: ChaosStack, report: list[Figures]
) -> None:
    stack = main_stack
    normal = photos(20, start=20_000)
    started = time.monotonic()
    crash_ids = await stack.upload_all(
        [crashing("CHAOS-KILL-RENDER", 1), crashing("CHAOS-KILL-WORKER", 2)]
    )
    normal_ids = await stack.upload_all(normal)
    normal_seconds = await stack.wait_ready(normal_ids, timeout=180)

    async def both_failed() -> bool:
        return (await stack.statuses(crash_ids)).get("failed", 0) == 2

    await wait_for(both_failed, 300, "both crashing photos failed")
    async with stack.catalog() as catalog:
        failures = [(await catalog.get_image(TENANT, image_id)) for image_id in crash_ids]
    reasons = [f.failure if f else None for f in failures]
    report.append(
        Figures(
            "test_workers.py::test_a_photo_that_crashes_its_worker_every_time_fails_and_holds_nobody_up",
            "2 photos that kill their render process / their worker every time, 20 normal photos",
            "the 2 end failed with the reason; the 20 ready meanwhile",
            {
                "normal_ready_s": round(normal_seconds, 1),
                "crashing_failed_s": round(time.monotonic() - started, 1),
                "reasons": sorted({str(r) for r in reasons}),
                "worker_restarts": stack.restarts,
            },
        )
    )
    max_crashes = stack.settings.worker.max_crashes
    assert reasons == [f"render crashed the worker {max_crashes} times"] * 2


async def test_sigterm_under_load_finishes_in_flight_renders_without_redelivery(
    main_stack: ChaosStack, report: list[Figures]
) -> None:
    stack = main_stack
    assert stack.stack is not None
    # Photos big enough that a render is in flight when the signal comes.
    ids = await stack.upload_all(photos(12, start=30_000, size=(2400, 1800)), parallel=4)
    victim = stack.stack.workers[0]
    pid = str(victim.process.pid)

    async def rendering_there() -> bool:
        async with stack.catalog() as catalog:
            held = {"status": "processing", "lease_owner": {"$regex": f"/{pid}/"}}
            return await catalog.images.count_documents(held) > 0

    await wait_for(rendering_there, 120, "the worker holds a render", every=0.05)
    signalled = time.monotonic()
    victim.process.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(victim.process.wait, 60)
    drained = time.monotonic() - signalled
    await stack.wait_ready(ids, timeout=240)
    async with stack.catalog() as catalog:
        attempts = [d["attempts"] async for d in catalog.images.find({"_id": {"$in": ids}})]
    report.append(
        Figures(
            "test_workers.py::test_sigterm_under_load_finishes_in_flight_renders_without_redelivery",
            "SIGTERM to a worker while it renders (12 photos of 4.3 MP queued)",
            "in-flight render finished within the drain timeout, exit 0, no redelivery",
            {
                "drain_s": round(drained, 2),
                "drain_timeout_s": stack.settings.worker.drain_timeout_seconds,
                "exit_code": code,
                "max_attempts": max(attempts),
            },
        )
    )
    assert code == 0
    assert drained < stack.settings.worker.drain_timeout_seconds
    assert attempts == [1] * len(ids), "every image claimed once: nothing redelivered"
