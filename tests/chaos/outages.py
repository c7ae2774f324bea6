"""The long outages: a dependency goes away mid-run, the gateway answers 503 + Retry-After
within seconds meanwhile, ``/readyz`` names the dependency, and afterwards every image that
was in flight, and every photo uploaded after, becomes ready.

Each runs on its own stack in its own thread (its own event loop): they mostly wait out
their outage, so the suite runs them side by side (see conftest).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.chaos.harness import ChaosStack, Server
from tests.chaos.photos import photos


@dataclass(frozen=True)
class Outage:
    """Which server goes away, how, for how long, and the name /readyz must give."""

    name: str
    server: str  # "s3" or "mongo"
    # "stop" (SIGTERM), "kill" (SIGKILL): connections refused; "freeze" (SIGSTOP): they hang
    how: str
    seconds: float
    dependency: str


OUTAGES = {
    "store_stopped": Outage("object store stopped", "s3", "stop", 60, "storage"),
    "catalog_refused": Outage(
        "catalog SIGKILLed, refusing connections", "mongo", "kill", 90, "catalog"
    ),
    "catalog_frozen": Outage("catalog frozen (SIGSTOP)", "mongo", "freeze", 150, "catalog"),
}
PROBE_EVERY = 3.0


def run_outage(root: Path, outage: Outage) -> dict[str, Any]:
    """Run one outage scenario to the end (in a thread) and return what it measured."""
    return asyncio.run(_scenario(root, outage))


async def _scenario(root: Path, outage: Outage) -> dict[str, Any]:
    stack = await ChaosStack(root, workers=1).start()
    try:
        server: Server = getattr(stack, outage.server)
        in_flight = await stack.upload_all(photos(20, start=1000))
        break_it, heal = _fault(server, outage.how)
        before = await stack.status_of(in_flight)
        await break_it()
        started = time.monotonic()
        probes = await _probe_while_down(stack, outage, started)
        await heal()
        healed = time.monotonic()
        lost = _lost(before, await stack.status_of(in_flight))
        after = await stack.upload_all(photos(10, start=2000))
        ready_seconds = await stack.wait_ready(in_flight + after, timeout=300)
        status, _ = await stack.readyz()
        return {
            "down_s": round(healed - started),
            "acknowledged": len(in_flight),
            "ready_before": list(before.values()).count("ready"),
            "lost": lost,
            "probes": len(probes),
            "statuses": sorted({p["status"] for p in probes}),
            "max_answer_s": round(max(p["seconds"] for p in probes), 2),
            "retry_after": sorted({p["retry_after"] for p in probes}),
            "readyz_named": sorted({n for p in probes for n in p["readyz"]}),
            "ready_after_heal_s": round(time.monotonic() - healed, 1),
            "ready_wait_s": round(ready_seconds, 1),
            "images": len(in_flight) + len(after),
            "crashes_counted": await stack.crashes(in_flight + after),
            "readyz_after": status,
        }
    finally:
        await stack.close()


def _fault(
    server: Server, how: str
) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
    if how == "freeze":

        async def freeze() -> None:
            await server.freeze()

        async def thaw() -> None:
            server.thaw()

        return freeze, thaw
    if how == "kill":  # no shutdown: what the catalog acknowledged must be in its journal
        return server.kill, server.start
    return server.shut_down, server.start


def _lost(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Images acknowledged before the fault that came back missing, or no longer ready."""
    return sorted(
        image_id
        for image_id, status in before.items()
        if image_id not in after or (status == "ready" and after[image_id] != "ready")
    )


async def _probe_while_down(
    stack: ChaosStack, outage: Outage, started: float
) -> list[dict[str, Any]]:
    """Every few seconds: what an uploading client and the readiness probe get."""
    probes: list[dict[str, Any]] = []
    seed = 3000
    while time.monotonic() - started < outage.seconds:
        seed += 1
        sent = await stack.upload(photos(1, start=seed)[0], timeout=30)
        status, body = await stack.readyz()
        probes.append(
            {
                "status": sent.status,
                "seconds": sent.seconds,
                "retry_after": sent.headers.get("Retry-After", ""),
                "readyz": sorted(body.get("failures", {})) if status == 503 else [],
            }
        )
        remaining = outage.seconds - (time.monotonic() - started)
        await asyncio.sleep(max(0.0, min(PROBE_EVERY, remaining)))
    return probes
