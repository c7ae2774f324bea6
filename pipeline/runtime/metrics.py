"""Prometheus metrics every gallery process exports on the metrics port (9100 by default).

The names here are the contract with the alert rules and the Grafana dashboard under
``deploy/``; ``tests/deploy`` fails when those use a name this module does not define.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Upload sizes from a 50 KB screenshot to a 100 MB RAW-sized JPEG.
_BYTE_BUCKETS = (64e3, 256e3, 1e6, 4e6, 16e6, 64e6, 256e6)
# Render time of one rendition: tens of milliseconds for a thumb, seconds for a 100 MP pano.
_RENDER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Upload-to-ready: queueing included, so up to minutes under a backlog. From 0.5 s up no bucket
# is wider than half its lower bound: a p50/p95 interpolated inside one (gallery status,
# Grafana's histogram_quantile) is then off by at most that. With 10 s and 30 s as neighbours,
# renders of 10-13 s read as p50 20 s, p95 29 s. 60 s stays a bound: the ready-latency alert
# counts it.
LATENCY_BUCKETS = (
    0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 12.5, 15.0, 20.0, 25.0, 30.0,
    45.0, 60.0, 90.0, 120.0, 180.0, 240.0, 300.0, 450.0, 600.0, 900.0,
)  # fmt: skip

UPLOADS = Counter("gallery_uploads_total", "Upload requests by outcome", ["outcome"])
UPLOAD_BYTES = Counter("gallery_upload_bytes_total", "Bytes of accepted originals")
UPLOAD_SIZE = Histogram(
    "gallery_upload_size_bytes", "Size of accepted originals", buckets=_BYTE_BUCKETS
)
SHARE_REFUSALS = Counter(
    "gallery_share_refusals_total",
    "Requests refused because a key, a tenant or the process held its share of a resource",
    ["resource", "scope"],
)
EDGE_CLOSED = Counter(
    "gallery_edge_closed_total",
    "Connections the gateway cut off at its edge limits",
    ["reason"],
)
HTTP_REQUESTS = Counter(
    "gallery_http_requests_total", "Gateway HTTP requests", ["method", "route", "status"]
)
# Gateway requests: a cached JSON answer in milliseconds, a 100 MB upload in tens of seconds.
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
HTTP_DURATION = Histogram(
    "gallery_http_request_duration_seconds",
    "Gateway request duration by route template (errors included)",
    ["method", "route"],
    buckets=_HTTP_BUCKETS,
)
JOBS = Counter(
    "gallery_jobs_total", "Render jobs by outcome (ack, retry, failed, dead_letter)", ["outcome"]
)
JOBS_HELD_BACK = Counter(
    "gallery_jobs_held_back_total",
    "Render jobs not published because their tenant's share of the render stream was full "
    "(the image waits in the catalog; fairness, docs/architecture.md)",
)
JOBS_IN_FLIGHT = Gauge("gallery_jobs_in_flight", "Render jobs being processed now")
RENDER_BACKLOG = Gauge(
    "gallery_render_backlog",
    "Images waiting for a render by lane (queued in the catalog: in the render stream or held "
    "back by the fairness cap). Exported by every gateway replica alike: read it with max()",
    ["lane"],
)
RENDER_SECONDS = Histogram(
    "gallery_render_seconds",
    "CPU-bound render time per rendition",
    ["rendition"],
    buckets=_RENDER_BUCKETS,
)
DECODE_SECONDS = Histogram(
    "gallery_decode_seconds", "Time to decode an original", buckets=_RENDER_BUCKETS
)
UPLOAD_TO_READY = Histogram(
    "gallery_upload_to_ready_seconds",
    "From accepted upload to image ready",
    buckets=LATENCY_BUCKETS,
)
DEAD_LETTERS = Counter(
    "gallery_dead_letters_total", "Jobs sent to the dead-letter subject", ["reason"]
)
OUTBOX_REPUBLISHED = Counter(
    "gallery_outbox_republished_total", "Queued images the sweeper published again"
)
UNEXPECTED_ERRORS = Counter(
    "gallery_unexpected_errors_total", "Exceptions outside the error tree", ["component"]
)

# Labelled series exist only once used; a series born at 1 shows no increase to rate(),
# so the first upload and the first render after a start would be lost to dashboards and
# `gallery status --prometheus`. Export the outcomes that rates are built on from the start.
for _outcome in ("accepted", "duplicate"):
    UPLOADS.labels(outcome=_outcome)
for _outcome in ("ack", "retry", "failed", "dead_letter"):
    JOBS.labels(outcome=_outcome)

EXPORTED = (
    "gallery_uploads_total",
    "gallery_upload_bytes_total",
    "gallery_upload_size_bytes",
    "gallery_http_requests_total",
    "gallery_http_request_duration_seconds",
    "gallery_jobs_total",
    "gallery_jobs_in_flight",
    "gallery_jobs_held_back_total",
    "gallery_render_backlog",
    "gallery_render_seconds",
    "gallery_decode_seconds",
    "gallery_upload_to_ready_seconds",
    "gallery_dead_letters_total",
    "gallery_outbox_republished_total",
    "gallery_unexpected_errors_total",
)
