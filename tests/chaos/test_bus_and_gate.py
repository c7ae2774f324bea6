"""The bus dies mid-run; decode bombs arrive beside a normal photo."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pipeline.runtime.settings import LimitsSettings, WorkerSettings
from tests.chaos.harness import ChaosStack, Figures, wait_for
from tests.chaos.photos import photos

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]
CASES = Path(__file__).resolve().parents[1] / "data" / "cases"


async def test_nats_killed_and_restarted_mid_run_loses_nothing(
    main_stack: ChaosStack, report: list[Figures]
) -> None:
    stack = main_stack
    first = await stack.upload_all(photos(30, start=40_000))
    await stack.nats.kill()
    killed = time.monotonic()

    async def bus_named() -> bool:
        status, body = await stack.readyz()
        return status == 503 and "bus" in body.get("failures", {})

    named_after = await wait_for(bus_named, 60, "/readyz names the bus")
    # Uploads go on while the bus is away: the catalog document is the outbox.
    during = await stack.upload_all(photos(10, start=41_000))
    await stack.nats.start()
    down = time.monotonic() - killed
    ready = await stack.wait_ready(first + during, timeout=240)
    report.append(
        Figures(
            "test_bus_and_gate.py::test_nats_killed_and_restarted_mid_run_loses_nothing",
            "nats-server SIGKILLed mid-run (30 photos in flight), restarted",
            "uploads accepted while it is away; nothing lost, every image ready",
            {
                "down_s": round(down, 1),
                "readyz_named_bus_after_s": round(named_after, 1),
                "accepted_while_down": len(during),
                "ready_after_restart_s": round(ready, 1),
                "images": len(first) + len(during),
            },
        )
    )


async def test_decode_bombs_beside_a_normal_photo(
    main_stack: ChaosStack, report: list[Figures]
) -> None:
    stack = main_stack
    bomb = (CASES / "c14_scan_bomb.jpg").read_bytes()
    baseline = await stack.upload_all(photos(1, start=50_000, size=(1600, 1200)))
    baseline_s = await stack.wait_ready(baseline, timeout=120)
    # Four bombs made distinct by a trailing byte (after EOI: still the same valid JPEG).
    sent = await asyncio.gather(
        *(stack.upload(bomb + bytes([i])) for i in range(4)),
        stack.upload(photos(1, start=50_001, size=(1600, 1200))[0]),
    )
    *bombs, normal = sent
    normal_s = await stack.wait_ready([normal.body["id"]], timeout=120)
    report.append(
        Figures(
            "test_bus_and_gate.py::test_decode_bombs_beside_a_normal_photo",
            "4 progressive-JPEG scan bombs (c14, 14,395 scans) and a normal photo at once",
            "bombs refused at upload (422 naming the scan count); the photo ready in normal time",
            {
                "bomb_statuses": sorted({b.status for b in bombs}),
                "normal_ready_s": round(normal_s, 2),
                "same_photo_alone_s": round(baseline_s, 2),
            },
        )
    )
    assert [b.status for b in bombs] == [422] * 4
    assert all("scans" in b.body["error"]["message"] for b in bombs)
    assert normal.status == 202


async def test_bombs_past_the_gate_are_killed_at_the_deadline_and_free_their_slots(
    tmp_path_factory: pytest.TempPathFactory, report: list[Figures]
) -> None:
    # An operator raised the scan limit: the bombs reach the renderer, whose deadline stops them.
    limits = LimitsSettings(max_jpeg_scans=100_000, render_timeout_seconds=4.0)
    worker = WorkerSettings(concurrency=2, drain_timeout_seconds=10.0)
    stack = await ChaosStack(
        tmp_path_factory.mktemp("bombs"), workers=1, limits=limits, worker=worker
    ).start()
    try:
        bomb = (CASES / "c14_scan_bomb.jpg").read_bytes()
        bomb_ids = await stack.upload_all([bomb + bytes([i]) for i in range(4)])
        started = time.monotonic()
        # Two bombs hold both slots now; a normal photo waits at most for one deadline.
        normal = await stack.upload_all(photos(1, start=51_000))
        normal_s = await stack.wait_ready(normal, timeout=120)

        async def bombs_failed() -> bool:
            return (await stack.statuses(bomb_ids)).get("failed", 0) == 4

        await wait_for(bombs_failed, 240, "the four bombs failed")
        bombs_done = time.monotonic() - started
        async with stack.catalog() as catalog:
            reasons = {
                (await catalog.get_image("chaos", i)).failure  # type: ignore[union-attr]
                for i in bomb_ids
            }
    finally:
        await stack.close()
    report.append(
        Figures(
            "test_bus_and_gate.py::test_bombs_past_the_gate_are_killed_at_the_deadline_and_free_their_slots",
            "4 scan bombs let through the gate (scan limit raised), render deadline 4 s, 2 slots",
            "each bomb killed at the deadline, failed with the reason; slots freed",
            {
                "bombs_failed_after_s": round(bombs_done, 1),
                "normal_ready_s": round(normal_s, 1),
                "reasons": sorted(str(r) for r in reasons),
            },
        )
    )
    assert all("longer than 4 s" in str(r) for r in reasons), reasons
    assert normal_s < bombs_done, "the photo did not wait for all four bombs"
