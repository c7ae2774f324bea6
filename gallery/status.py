"""What ``gallery status`` knows about a running pipeline, gathered from its sources.

Queue state comes from JetStream's consumer and stream info (through the bus adapter).
Work rates come either from the processes' own ``/metrics`` endpoints, sampled twice
(gallery/scrape.py; ``gallery up`` lists them in its data folder), or from Prometheus's HTTP
API (``GET /api/v1/query``, https://prometheus.io/docs/prometheus/latest/querying/api/)
with the same quantities as PromQL over ``window``.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from gallery.scrape import Scrape, Throughput, scrape_all, throughput
from gallery.stackfile import Endpoint
from pipeline.adapters.bus import BusState, JetStreamBus
from pipeline.domain.errors import BusError, DependencyError
from pipeline.runtime.settings import NatsSettings

BUS_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class StatusReport:
    nats_url: str
    bus: BusState | None
    bus_error: str | None
    throughput: Throughput | None
    throughput_error: str | None

    def healthy(self) -> bool:
        """Every source answered and at least one worker is alive (when workers are known)."""
        if self.bus is None or self.throughput is None:
            return False
        return self.throughput.workers_alive != 0

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "healthy": self.healthy()}


async def bus_state(nats: NatsSettings) -> BusState:
    """Raises BusError when NATS does not answer within BUS_TIMEOUT_SECONDS."""
    await _reachable(nats.url)
    try:
        async with asyncio.timeout(BUS_TIMEOUT_SECONDS):
            async with JetStreamBus.connect(nats, name="gallery-status") as bus:
                return await bus.state()
    except TimeoutError as exc:
        raise BusError(f"NATS at {nats.url} did not answer in {BUS_TIMEOUT_SECONDS:.0f}s") from exc


async def _reachable(nats_url: str) -> None:
    """Fail at once on a refused connection: the NATS client would keep retrying it."""
    errors = []
    for server in nats_url.split(","):
        url = urlsplit(server.strip() if "://" in server else f"nats://{server.strip()}")
        try:
            async with asyncio.timeout(3):
                _reader, writer = await asyncio.open_connection(url.hostname, url.port or 4222)
            writer.close()
            return
        except (OSError, TimeoutError) as exc:
            errors.append(f"{server.strip()}: {exc or 'timed out'}")
    raise BusError(f"cannot connect to NATS ({'; '.join(errors)})")


class MetricsSampler:
    """Keeps scrapes of the endpoints for ``window`` seconds; rates over what it holds."""

    def __init__(self, session: aiohttp.ClientSession, endpoints: list[Endpoint], window: float):
        self.session = session
        self.endpoints = endpoints
        self.window = window
        self.rounds: deque[list[Scrape]] = deque()

    async def sample(self) -> None:
        scrapes = await scrape_all(self.session, self.endpoints)
        self.rounds.append(scrapes)
        newest = scrapes[0].at if scrapes else 0.0
        while len(self.rounds) > 2 and newest - self.rounds[1][0].at >= self.window:
            self.rounds.popleft()

    def throughput(self) -> Throughput:
        first, last = self.rounds[0], self.rounds[-1]
        return throughput(first, last, f"{len(self.endpoints)} /metrics endpoint(s)")


PROMQL = {
    "uploads_per_s": 'sum(rate(gallery_uploads_total{{outcome=~"accepted|duplicate"}}[{w}]))',
    "renders_per_s": 'sum(rate(gallery_jobs_total{{outcome="ack"}}[{w}]))',
    "failures_per_s": 'sum(rate(gallery_jobs_total{{outcome=~"failed|dead_letter"}}[{w}]))',
    "p50_seconds": (
        "histogram_quantile(0.5, sum by (le) (rate(gallery_upload_to_ready_seconds_bucket[{w}])))"
    ),
    "p95_seconds": (
        "histogram_quantile(0.95, sum by (le) (rate(gallery_upload_to_ready_seconds_bucket[{w}])))"
    ),
    "mean_seconds": (
        "sum(rate(gallery_upload_to_ready_seconds_sum[{w}]))"
        " / sum(rate(gallery_upload_to_ready_seconds_count[{w}]))"
    ),
    "workers_alive": 'count(up{{job="gallery-worker"}} == 1)',
    "workers_known": 'count(up{{job="gallery-worker"}})',
    "gateways_alive": 'count(up{{job="gallery-gateway"}} == 1)',
    "in_flight": 'sum(gallery_jobs_in_flight{{job="gallery-worker"}})',
}


def promql(window_seconds: float) -> dict[str, str]:
    """The PromQL queries for a window (job labels as deploy/kustomize/base/monitors.yaml)."""
    window = f"{max(int(window_seconds), 60)}s"
    return {name: query.format(w=window) for name, query in PROMQL.items()}


async def prometheus_throughput(
    session: aiohttp.ClientSession, url: str, window_seconds: float
) -> Throughput:
    """Raises DependencyError when Prometheus does not answer or refuses a query."""
    values: dict[str, float | None] = {}
    for name, query in promql(window_seconds).items():
        values[name] = await _instant(session, url.rstrip("/"), query)

    def count(name: str) -> int | None:
        value = values[name]
        return None if value is None else int(value)

    return Throughput(
        source=f"prometheus {url}",
        window_seconds=max(int(window_seconds), 60),
        uploads_per_s=values["uploads_per_s"],
        renders_per_s=values["renders_per_s"],
        failures_per_s=values["failures_per_s"],
        p50_seconds=values["p50_seconds"],
        p95_seconds=values["p95_seconds"],
        p50_since_start=None,
        p95_since_start=None,
        workers_alive=count("workers_alive") or 0,
        workers_known=count("workers_known"),
        gateways_alive=count("gateways_alive"),
        in_flight=values["in_flight"],
        mean_seconds=values["mean_seconds"],
    )


async def _instant(session: aiohttp.ClientSession, url: str, query: str) -> float | None:
    """The single value of an instant query; None for an empty result or NaN."""
    try:
        async with session.get(
            f"{url}/api/v1/query", params={"query": query}, timeout=aiohttp.ClientTimeout(total=10)
        ) as response:
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise DependencyError(f"Prometheus at {url} did not answer: {exc}") from exc
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else body
        raise DependencyError(f"Prometheus refused {query!r}: {error}")
    result = body["data"]["result"]
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if math.isnan(value) else value  # NaN: no observations in the window
