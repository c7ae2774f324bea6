"""Rates and latency percentiles from the processes' own ``/metrics`` endpoints.

Each endpoint is scraped (Prometheus text format, parsed by prometheus_client) into a
:class:`Scrape`; two scrapes of every endpoint some seconds apart give counter deltas, so
``uploads/s = Δ gallery_uploads_total{outcome=accepted|duplicate} / Δt`` and the
upload-to-ready p50/p95 come from the Δ of ``gallery_upload_to_ready_seconds`` buckets,
interpolated inside a bucket as Prometheus's ``histogram_quantile`` does. That is an estimate:
it assumes the observations spread evenly inside their bucket, so it can be off by up to the
bucket's width (with 10 s and 30 s bounds, renders of 10-13 s read as p50 20 s, p95 29 s).
The status screen says so and shows the bucket it lies in; the mean (Δ ``_sum`` / Δ ``_count``)
is exact. A counter that went down (the process restarted) counts from zero, as Prometheus's
``rate`` does.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from gallery.stackfile import Endpoint

UPLOAD_OUTCOMES = ("accepted", "duplicate")
FAILED_OUTCOMES = ("failed", "dead_letter")
LATENCY = "gallery_upload_to_ready_seconds"


@dataclass(frozen=True)
class Scrape:
    """One endpoint at one moment; ``up`` False when it did not answer."""

    endpoint: Endpoint
    at: float
    up: bool
    uploads: float = 0.0
    renders: float = 0.0
    failures: float = 0.0
    in_flight: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count
    latency_sum: float = 0.0  # seconds, all observations
    latency_count: float = 0.0


@dataclass(frozen=True)
class Throughput:
    """What the status screen shows about work done over ``window_seconds``."""

    source: str
    window_seconds: float
    uploads_per_s: float | None
    renders_per_s: float | None
    failures_per_s: float | None
    p50_seconds: float | None
    p95_seconds: float | None
    p50_since_start: float | None
    p95_since_start: float | None
    workers_alive: int | None
    workers_known: int | None
    gateways_alive: int | None
    in_flight: float | None
    mean_seconds: float | None = None  # exact: the histogram's sum over its count
    mean_since_start: float | None = None
    p50_bucket: tuple[float, float] | None = None  # (lower, upper) bounds the estimate is in
    p95_bucket: tuple[float, float] | None = None


def parse(endpoint: Endpoint, text: str, at: float) -> Scrape:
    uploads = renders = failures = in_flight = latency_sum = latency_count = 0.0
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            outcome = sample.labels.get("outcome")
            if sample.name == "gallery_uploads_total" and outcome in UPLOAD_OUTCOMES:
                uploads += sample.value
            elif sample.name == "gallery_jobs_total" and outcome == "ack":
                renders += sample.value
            elif sample.name == "gallery_jobs_total" and outcome in FAILED_OUTCOMES:
                failures += sample.value
            elif sample.name == "gallery_jobs_in_flight":
                in_flight += sample.value
            elif sample.name == f"{LATENCY}_bucket":
                buckets[float(sample.labels["le"])] = sample.value
            elif sample.name == f"{LATENCY}_sum":
                latency_sum = sample.value
            elif sample.name == f"{LATENCY}_count":
                latency_count = sample.value
    return Scrape(
        endpoint, at, True, uploads, renders, failures, in_flight, buckets,
        latency_sum, latency_count,
    )  # fmt: skip


async def scrape_all(session: aiohttp.ClientSession, endpoints: Iterable[Endpoint]) -> list[Scrape]:
    """Every endpoint at once; one that does not answer within 3 s is reported down."""

    async def one(endpoint: Endpoint) -> Scrape:
        try:
            async with session.get(
                endpoint.metrics_url, timeout=aiohttp.ClientTimeout(total=3)
            ) as response:
                text = await response.text()
                ok = response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            ok, text = False, ""
        now = time.monotonic()
        return parse(endpoint, text, now) if ok else Scrape(endpoint, now, False)

    return list(await asyncio.gather(*(one(e) for e in endpoints)))


def _delta(new: float, old: float) -> float:
    return new if new < old else new - old


def throughput(first: list[Scrape], last: list[Scrape], source: str) -> Throughput:
    """Compare two rounds of scrapes of the same endpoints."""
    before = {s.endpoint.metrics_url: s for s in first if s.up}
    pairs = [
        (before[s.endpoint.metrics_url], s)
        for s in last
        if s.up and s.endpoint.metrics_url in before
    ]
    seconds = max((b.at - a.at for a, b in pairs), default=0.0)
    buckets: dict[float, float] = {}
    for old, new in pairs:
        for le, count in new.buckets.items():
            buckets[le] = buckets.get(le, 0.0) + _delta(count, old.buckets.get(le, 0.0))

    def rate(attr: str) -> float | None:
        if seconds <= 0:
            return None
        return sum(_delta(getattr(b, attr), getattr(a, attr)) for a, b in pairs) / seconds

    def mean(scrapes: list[tuple[Scrape | None, Scrape]]) -> float | None:
        total = sum(_delta(b.latency_sum, a.latency_sum if a else 0.0) for a, b in scrapes)
        count = sum(_delta(b.latency_count, a.latency_count if a else 0.0) for a, b in scrapes)
        return total / count if count > 0 else None

    workers = [s for s in last if s.endpoint.role == "worker"]
    since_start: dict[float, float] = {}
    for scrape in last:
        for le, count in scrape.buckets.items():
            since_start[le] = since_start.get(le, 0.0) + count
    return Throughput(
        source=source,
        window_seconds=seconds,
        uploads_per_s=rate("uploads"),
        renders_per_s=rate("renders"),
        failures_per_s=rate("failures"),
        p50_seconds=quantile(0.5, buckets),
        p95_seconds=quantile(0.95, buckets),
        p50_since_start=quantile(0.5, since_start),
        p95_since_start=quantile(0.95, since_start),
        workers_alive=sum(1 for s in workers if s.up),
        workers_known=len(workers),
        gateways_alive=sum(1 for s in last if s.up and s.endpoint.role == "gateway"),
        in_flight=sum(s.in_flight for s in last if s.up and s.endpoint.role == "worker"),
        mean_seconds=mean(list(pairs)),
        mean_since_start=mean([(None, s) for s in last if s.up]),
        p50_bucket=bucket_of(0.5, buckets),
        p95_bucket=bucket_of(0.95, buckets),
    )


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """``histogram_quantile(q, ...)`` over cumulative ``le -> count``; None without data."""
    found = _locate(q, buckets)
    if found is None:
        return None
    (lower_le, lower_count), (le, count), rank = found
    if math.isinf(le):  # beyond the last finite bucket: its bound is the best answer
        return lower_le
    if count == lower_count:
        return le
    return lower_le + (le - lower_le) * (rank - lower_count) / (count - lower_count)


def bucket_of(q: float, buckets: dict[float, float]) -> tuple[float, float] | None:
    """The (lower, upper) bounds in seconds of the bucket the q-quantile falls in: all the
    histogram knows for sure (upper is ``inf`` beyond the last bound); None without data."""
    found = _locate(q, buckets)
    return None if found is None else (found[0][0], found[1][0])


Bound = tuple[float, float]  # (le, cumulative count)


def _locate(q: float, buckets: dict[float, float]) -> tuple[Bound, Bound, float] | None:
    """The bounds below and at the bucket holding rank ``q * total``, and that rank."""
    ordered = sorted(buckets.items())
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower: Bound = (0.0, 0.0)
    for le, count in ordered:
        if count >= rank:
            return lower, (le, count), rank
        lower = (le, count)
    return lower, ordered[-1], rank
