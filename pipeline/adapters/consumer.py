"""The pull loop: fetch jobs in batches, run the handler with bounded concurrency, map outcomes.

Drain on stop: no new fetches, in-flight jobs get ``drain_timeout`` to finish; what is still
running then is nak'ed at once so another worker takes it instead of waiting for ack_wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats.errors
from nats.aio.msg import Msg

from pipeline.adapters.bus import JetStreamBus, backoff_delay
from pipeline.domain import names
from pipeline.domain.errors import BadMessage, PipelineError
from pipeline.domain.messages import CleanupJob, DeadLetter, RenderJob, decode
from pipeline.domain.outcomes import (
    Ack,
    CleanupHandler,
    Delivery,
    Handler,
    Outcome,
    Retry,
    Terminal,
)
from pipeline.runtime import metrics
from pipeline.runtime.process import wait_or_stop

log = logging.getLogger(__name__)


class _PullLoop:
    """Fetch from one durable consumer until ``stop``; subclasses decode and run each job.

    ``max_deliver`` <= 0 means the job is retried for ever (the consumer allows unlimited
    deliveries); otherwise the last failed delivery is dead-lettered.
    """

    def __init__(
        self,
        bus: JetStreamBus,
        consumer: str,
        *,
        concurrency: int,
        fetch_batch: int,
        drain_timeout: float,
        max_deliver: int,
    ) -> None:
        self._bus = bus
        self._consumer = consumer
        self._max_deliver = max_deliver
        self._concurrency = concurrency
        self._fetch_batch = fetch_batch
        self._drain_timeout = drain_timeout
        self._tasks: set[asyncio.Task[None]] = set()
        self._heartbeat_every = max(bus.settings.ack_wait_seconds / 3, 0.2)

    async def run(self, stop: asyncio.Event) -> None:
        async with self._bus.pull(self._consumer) as sub:
            while not stop.is_set():
                free = await self._wait_for_slot(stop)
                if free == 0:
                    break
                try:
                    msgs = await sub.fetch(min(free, self._fetch_batch), timeout=1.0)
                except TimeoutError:
                    # No message within the fetch window. nats-py raises its own TimeoutError
                    # or, when the server's no-wait answer comes just before the deadline, a
                    # bare asyncio.TimeoutError (an OSError): both mean "empty", not a fault.
                    continue
                except (nats.errors.Error, OSError) as exc:
                    log.warning("fetch from %s failed: %r", self._consumer, exc)
                    await wait_or_stop(stop, 1.0)
                    continue
                for msg in msgs:
                    task = asyncio.create_task(self._process(msg))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            await self._drain()

    async def _wait_for_slot(self, stop: asyncio.Event) -> int:
        """Block until at least one slot is free (or stop); return how many are free."""
        while not stop.is_set():
            free = self._concurrency - len(self._tasks)
            if free > 0:
                return free
            await wait_or_stop(stop, 0.05)
        return 0

    async def _drain(self) -> None:
        if not self._tasks:
            return
        log.info("draining %d in-flight job(s), up to %.0fs", len(self._tasks), self._drain_timeout)
        _done, pending = await asyncio.wait(set(self._tasks), timeout=self._drain_timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    async def _process(self, msg: Msg) -> None:
        metrics.JOBS_IN_FLIGHT.inc()
        heartbeat = asyncio.create_task(self._heartbeat(msg))
        try:
            outcome = await self._run_handler(msg)
            await self._settle(msg, outcome)
        except asyncio.CancelledError:
            # Drain timed out: hand the job back now rather than after ack_wait.
            with contextlib.suppress(Exception):
                await msg.nak()
            metrics.JOBS.labels(outcome="interrupted").inc()
            raise
        except Exception:
            log.exception("settling a job failed; JetStream will redeliver it")
        finally:
            heartbeat.cancel()
            metrics.JOBS_IN_FLIGHT.dec()

    async def _heartbeat(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_every)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def _run_handler(self, msg: Msg) -> Outcome:
        attempt = msg.metadata.num_delivered or 1
        try:
            return await self._call(msg, attempt)
        except BadMessage as exc:
            return Terminal(f"bad message: {exc}")
        except PipelineError as exc:
            return Retry(f"{exc.code}: {exc}") if exc.retryable else Terminal(f"{exc.code}: {exc}")
        except Exception as exc:
            metrics.UNEXPECTED_ERRORS.labels(component="worker").inc()
            log.exception("unexpected error in a %s job", self._consumer)
            return Retry(f"unexpected: {type(exc).__name__}: {exc}")

    async def _call(self, msg: Msg, attempt: int) -> Outcome:
        """Decode the job (BadMessage if malformed) and run the handler on it."""
        raise NotImplementedError

    def _retries_left(self, attempt: int) -> bool:
        return self._max_deliver <= 0 or attempt < self._max_deliver

    async def _settle(self, msg: Msg, outcome: Outcome) -> None:
        attempt = msg.metadata.num_delivered or 1
        match outcome:
            case Ack():
                await msg.ack()
                metrics.JOBS.labels(outcome="ack").inc()
            case Retry(reason, wanted) if self._retries_left(attempt):
                delay = backoff_delay(self._bus.settings, attempt) if wanted is None else wanted
                log.warning("retrying job in %.1fs (attempt %d): %s", delay, attempt, reason)
                await msg.nak(delay=delay)
                metrics.JOBS.labels(outcome="retry").inc()
            case Retry(reason, _) | Terminal(reason):
                await self._dead_letter(msg, reason, attempt)

    async def _dead_letter(self, msg: Msg, reason: str, attempt: int) -> None:
        await msg.term()
        metrics.JOBS.labels(outcome="dead_letter").inc()
        log.warning("%s job dropped after %d attempt(s): %s", self._consumer, attempt, reason)


class JobConsumer(_PullLoop):
    """Runs a render ``handler`` over one durable consumer (render or backfill lane)."""

    def __init__(
        self,
        bus: JetStreamBus,
        consumer: str,
        handler: Handler,
        *,
        concurrency: int,
        fetch_batch: int,
        drain_timeout: float,
    ) -> None:
        super().__init__(
            bus,
            consumer,
            concurrency=concurrency,
            fetch_batch=fetch_batch,
            drain_timeout=drain_timeout,
            max_deliver=bus.settings.max_deliver,
        )
        self._handler = handler

    async def _call(self, msg: Msg, attempt: int) -> Outcome:
        job = decode(RenderJob, msg.data)
        return await self._handler(Delivery(job=job, attempt=attempt, subject=msg.subject))

    async def _dead_letter(self, msg: Msg, reason: str, attempt: int) -> None:
        with contextlib.suppress(BadMessage):
            job = decode(RenderJob, msg.data)
            await self._bus.dead_letter(DeadLetter(job=job, reason=reason, attempts=attempt))
        await msg.term()
        metrics.JOBS.labels(outcome="dead_letter").inc()
        log.warning("job dead-lettered after %d attempt(s): %s", attempt, reason)


class CleanupConsumer(_PullLoop):
    """The cleanup lane: each job is retried with backoff until the store answers.

    Only a malformed job ends early (dropped with a log line: it names no objects to keep).
    """

    def __init__(
        self, bus: JetStreamBus, handler: CleanupHandler, *, concurrency: int, drain_timeout: float
    ) -> None:
        super().__init__(
            bus,
            names.CLEANUP_CONSUMER,
            concurrency=concurrency,
            fetch_batch=concurrency,
            drain_timeout=drain_timeout,
            max_deliver=0,
        )
        self._handler = handler

    async def _call(self, msg: Msg, attempt: int) -> Outcome:
        return await self._handler(decode(CleanupJob, msg.data), attempt)
