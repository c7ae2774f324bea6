"""``gallery status``: the pipeline's queues, dead letters, workers and rates on one screen.

Exit codes: 0 every source answered and a worker is alive; 1 the sources answered but no
worker is; 3 NATS, the metrics endpoints or Prometheus did not answer. ``--json`` prints
the same report as one JSON document; ``--watch`` redraws it every ``--interval`` seconds
with rates over the last ``--window`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
from typing import TYPE_CHECKING, Any

import aiohttp
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from gallery import exitcodes, output
from gallery.options import add_data_dir, local_stack
from gallery.stackfile import Endpoint
from pipeline.domain.errors import ConfigurationError, PipelineError
from pipeline.runtime.settings import NatsSettings

if TYPE_CHECKING:  # at run time imported where used: it loads nats-py
    from gallery.scrape import Throughput
    from gallery.status import MetricsSampler, StatusReport

DEFAULT_NATS = "nats://127.0.0.1:4222"


def add_parser(sub: Any) -> None:
    status = sub.add_parser("status", help="queues, dead letters, workers, rates, latency")
    add_data_dir(status)
    status.add_argument("--nats", help="NATS URL (default: GALLERY_NATS_URL, gallery up's)")
    status.add_argument(
        "--metrics",
        action="append",
        metavar="ROLE=URL",
        help="a process's /metrics (role gateway or worker); repeat it; default: gallery up's",
    )
    status.add_argument("--prometheus", metavar="URL", help="read rates from Prometheus instead")
    status.add_argument("--interval", type=float, default=2.0, help="seconds between samples")
    status.add_argument("--window", type=float, default=300.0, help="seconds rates cover")
    status.add_argument("--watch", action="store_true", help="redraw until Ctrl-C")
    status.add_argument("--json", action="store_true", help="the report as JSON")


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return exitcodes.OK  # leaving --watch


async def _run(args: argparse.Namespace) -> int:
    # Imported here: the bus adapter loads nats-py, which other commands do not need.
    from gallery.status import MetricsSampler

    nats, endpoints = _sources(args)
    async with aiohttp.ClientSession() as session:
        sampler = MetricsSampler(session, endpoints, args.window) if endpoints else None
        report = await _report(args, nats, session, sampler, first=True)
        if args.watch:
            await _watch(args, nats, session, sampler, report)
        return _print(report, args.json)


async def _watch(
    args: argparse.Namespace,
    nats: NatsSettings,
    session: aiohttp.ClientSession,
    sampler: MetricsSampler | None,
    report: StatusReport,
) -> None:
    """Redraw until Ctrl-C (KeyboardInterrupt leaves through ``run``)."""
    with Live(_screen(report), console=output.stdout(), auto_refresh=False) as live:
        while True:
            await asyncio.sleep(args.interval)
            report = await _report(args, nats, session, sampler, first=False)
            live.update(_screen(report), refresh=True)


def _sources(args: argparse.Namespace) -> tuple[NatsSettings, list[Endpoint]]:
    try:
        stack = local_stack(args)
    except ConfigurationError:
        stack = None
    nats_url = (
        args.nats
        or os.environ.get("GALLERY_NATS_URL")
        or (stack.nats_url if stack else DEFAULT_NATS)
    )
    if args.metrics:
        endpoints = [_endpoint(text) for text in args.metrics]
    else:
        endpoints = stack.endpoints if stack else []
    # The stack's admin user (gallery up signs each role in), unless the environment names one.
    saved = stack.settings_env if stack else {}
    user, password = (
        os.environ.get(name) or saved.get(name, "")
        for name in ("GALLERY_NATS_USER", "GALLERY_NATS_PASSWORD")
    )
    return NatsSettings(url=nats_url, user=user, password=password), endpoints


def _endpoint(text: str) -> Endpoint:
    role, sep, url = text.partition("=")
    if not sep or role not in ("gateway", "worker"):
        raise ConfigurationError(f"--metrics {text!r}: expected gateway=URL or worker=URL")
    return Endpoint(role, role, url)


async def _report(
    args: argparse.Namespace,
    nats: NatsSettings,
    session: aiohttp.ClientSession,
    sampler: MetricsSampler | None,
    *,
    first: bool,
) -> StatusReport:
    # Imported here: see _run.
    from gallery.status import StatusReport, bus_state, prometheus_throughput

    bus = bus_error = rates = rates_error = None
    try:
        bus = await bus_state(nats)
    except PipelineError as exc:
        bus_error = str(exc)
    try:
        if args.prometheus:
            rates = await prometheus_throughput(session, args.prometheus, args.window)
        elif sampler is None:
            raise ConfigurationError(
                "no metrics endpoints: run `gallery up` in --data-dir, or pass --metrics or "
                "--prometheus"
            )
        else:
            await sampler.sample()
            if first:  # rates need two samples
                await asyncio.sleep(args.interval)
                await sampler.sample()
            rates = sampler.throughput()
    except PipelineError as exc:
        rates_error = str(exc)
    return StatusReport(nats.url, bus, bus_error, rates, rates_error)


def _print(report: StatusReport, as_json: bool) -> int:
    if as_json:
        output.print_json(report.as_json())
    else:
        output.stdout().print(_screen(report))
    if report.bus is None or report.throughput is None:
        return exitcodes.UNAVAILABLE
    return exitcodes.OK if report.healthy() else exitcodes.PARTIAL


def _screen(report: StatusReport) -> Group:
    verdict = Text("healthy", style="green") if report.healthy() else Text("NOT healthy", "red")
    parts: list[Any] = [Text.assemble("gallery status: ", verdict, f"   NATS {report.nats_url}")]
    parts.append(_queues(report) if report.bus else Text(f"queues: {report.bus_error}", "red"))
    if report.throughput:
        parts.append(_work(report.throughput))
    else:
        parts.append(Text(f"work: {report.throughput_error}", "red"))
    return Group(*parts)


def _queues(report: StatusReport) -> Table:
    assert report.bus is not None
    table = Table(title="queues (JetStream)", title_justify="left")
    for column in ("consumer", "pending", "ack pending", "redelivered", "waiting pulls"):
        table.add_column(column, justify="left" if column == "consumer" else "right")
    for c in report.bus.consumers:
        table.add_row(
            c.name, str(c.pending), str(c.ack_pending), str(c.redelivered), str(c.waiting)
        )
    letters = report.bus.dead_letters
    style = "red" if letters else ""
    table.add_row("dead letters", f"[{style}]{letters}[/]" if style else str(letters), "", "", "")
    return table


def _work(t: Throughput) -> Table:
    table = Table(title="work", title_justify="left", min_width=44)
    table.add_column("")
    table.add_column(f"last {t.window_seconds:.0f} s", justify="right")
    table.add_column("since start", justify="right")
    known = "?" if t.workers_known is None else str(t.workers_known)
    rows = {
        "workers alive": (f"{t.workers_alive}/{known}", ""),
        "gateways alive": (_num(t.gateways_alive, "{:.0f}"), ""),
        "jobs in flight": (_num(t.in_flight, "{:.0f}"), ""),
        "uploads/s": (_num(t.uploads_per_s, "{:.2f}"), ""),
        "renders/s": (_num(t.renders_per_s, "{:.2f}"), ""),
        "failures/s": (_num(t.failures_per_s, "{:.2f}"), ""),
    }
    latency = {
        "mean": (_num(t.mean_seconds, "{:.2f} s"), _num(t.mean_since_start, "{:.2f} s")),
        "p50 (est.)": (_estimate(t.p50_seconds, t.p50_bucket), _estimate(t.p50_since_start)),
        "p95 (est.)": (_estimate(t.p95_seconds, t.p95_bucket), _estimate(t.p95_since_start)),
    }
    rows |= {f"upload→ready {name}": cells for name, cells in latency.items()}
    for name, (window, since) in rows.items():
        table.add_row(name, window, since)
    table.caption = (
        f"from {t.source}; p50/p95 are estimates interpolated inside histogram buckets "
        "(the bucket they fall in, in brackets); the mean is exact"
    )
    table.caption_justify = "left"
    return table


def _estimate(value: float | None, bucket: tuple[float, float] | None = None) -> str:
    """``≈11.4 s (10-12.5)``: the interpolated figure and the bucket that bounds it."""
    if value is None:
        return "-"
    if bucket is None:
        return f"≈{value:.1f} s"
    lower, upper = bucket
    top = "+" if math.isinf(upper) else f"-{upper:g}"
    return f"≈{value:.1f} s ({lower:g}{top})"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)
