"""The pull loop of one lane: fetch jobs, run the handler, carry out the fate table's verdict.

One generic class serves every lane of :mod:`pipeline.jobs.registry`: it decodes the lane's
message type, hands the handler a :class:`~pipeline.domain.outcomes.Delivery`, and turns the
outcome into ack, nak with a delay or a dead letter through :func:`pipeline.jobs.fate.decide`.
A message that does not decode is dead-lettered with the reason and its raw body.

Lanes that share a :class:`SlotPool` share the worker's slots by priority: a lane with lanes
ahead of it (a lower priority number, same pool) fetches only while JetStream reports no job
waiting for them, so a fresh upload waits at most for the backfill jobs already running
(one render time), never behind the backfill queue.

Drain on stop: no new fetches, in-flight jobs get ``drain_timeout`` to finish; what is still
running then is nak'ed at once so another worker takes it instead of waiting for ack_wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic

import nats.errors
from nats.aio.msg import Msg

from pipeline.adapters.bus import JetStreamBus
from pipeline.domain.errors import BadMessage, BusError, PipelineError
from pipeline.domain.messages import DeadLetter, RenderJob, decode
from pipeline.domain.outcomes import Ack, Delivery, Outcome, Retry, Terminal
from pipeline.jobs.fate import History, Result, Verdict, backoff_delay, decide
from pipeline.jobs.registry import BoundLane, Handler, J, Lane
from pipeline.runtime import metrics
from pipeline.runtime.process import wait_or_stop

log = logging.getLogger(__name__)


# How often a lane waiting behind others asks JetStream whether they still have work.
AHEAD_POLL_SECONDS = 0.25


@dataclass
class SlotPool:
    """Job slots of one worker process, shared by the lanes that name the same pool."""

    capacity: int
    in_use: int = 0

    @property
    def free(self) -> int:
        return max(self.capacity - self.in_use, 0)


def result_of(outcome: Outcome) -> Result:
    """The fate table's word for a handler's outcome."""
    match outcome:
        case Ack():
            return Result.DONE
        case Retry(_, None):
            return Result.TRANSIENT
        case Retry():
            return Result.BUSY
        case Terminal():
            return Result.REJECTED


@dataclass(frozen=True)
class _Fate:
    verdict: Verdict
    reason: str
    delay: float  # seconds before the next delivery (NAK only)


class LaneConsumer(Generic[J]):
    """Fetches from one lane's durable consumer until ``stop`` and runs its handler."""

    def __init__(
        self,
        bus: JetStreamBus,
        bound: BoundLane[J],
        pool: SlotPool,
        *,
        drain_timeout: float,
        ahead: Sequence[Lane[Any]] = (),
    ) -> None:
        self._ahead = tuple(ahead)
        self._bus = bus
        self._lane: Lane[J] = bound.lane
        self._handler: Handler[J] = bound.handler
        self._pool = pool
        self._drain_timeout = drain_timeout
        self._tasks: set[asyncio.Task[None]] = set()
        self._heartbeat_every: float = max(self._lane.ack_wait_seconds / 3, 0.2)

    async def run(self, stop: asyncio.Event) -> None:
        lane = self._lane
        async with self._bus.pull(lane) as sub:
            while not stop.is_set():
                free = await self._wait_for_slot(stop)
                if free == 0:
                    break
                try:
                    msgs = await sub.fetch(min(free, lane.fetch_batch), timeout=1.0)
                except TimeoutError:
                    # No message within the fetch window. nats-py raises its own TimeoutError
                    # or, when the server's no-wait answer comes just before the deadline, a
                    # bare asyncio.TimeoutError (an OSError): both mean "empty", not a fault.
                    continue
                except (nats.errors.Error, OSError) as exc:
                    log.warning("fetch from %s failed: %r", lane.consumer, exc)
                    await wait_or_stop(stop, 1.0)
                    continue
                for msg in msgs:
                    self._start(msg)
            await self._drain()

    def _start(self, msg: Msg) -> None:
        self._pool.in_use += 1
        task = asyncio.create_task(self._process(msg))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._pool.in_use -= 1

    async def _wait_for_slot(self, stop: asyncio.Event) -> int:
        """Block until this lane may take at least one slot (or stop); return how many.

        A lane behind others takes a slot only while none of them has a job waiting."""
        while not stop.is_set():
            free = min(self._lane.slots - len(self._tasks), self._pool.free)
            if free > 0 and not await self._work_ahead():
                return free
            await wait_or_stop(stop, AHEAD_POLL_SECONDS if free > 0 else 0.05)
        return 0

    async def _work_ahead(self) -> bool:
        if not self._ahead:
            return False
        try:
            return await self._bus.has_waiting(self._ahead)
        except BusError as exc:
            log.warning("cannot tell whether %s has work ahead: %s", self._lane.name, exc)
            return True  # when in doubt, the lanes ahead keep their slots

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
            await self._settle(msg)
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

    async def _settle(self, msg: Msg) -> None:
        lane = self._lane
        attempt = msg.metadata.num_delivered or 1
        history = History(attempt=attempt, max_deliver=lane.max_deliver)
        try:
            job = decode(lane.message, msg.data)
        except BadMessage as exc:
            fate = _Fate(decide(Result.UNDECODABLE, history), f"bad message: {exc}", 0.0)
            await self._carry_out(msg, fate, None, attempt)
            return
        outcome = await self._run_handler(Delivery(job=job, attempt=attempt, subject=msg.subject))
        wanted = outcome.delay if isinstance(outcome, Retry) else None
        base, cap = lane.backoff_base_seconds, lane.backoff_max_seconds
        delay = backoff_delay(attempt, base=base, cap=cap) if wanted is None else wanted
        fate = _Fate(decide(result_of(outcome), history), _reason(outcome), delay)
        await self._carry_out(msg, fate, job, attempt)

    async def _run_handler(self, delivery: Delivery[J]) -> Outcome:
        try:
            return await self._handler(delivery)
        except BadMessage as exc:
            return Terminal(f"bad message: {exc}")
        except PipelineError as exc:
            return Retry(f"{exc.code}: {exc}") if exc.retryable else Terminal(f"{exc.code}: {exc}")
        except Exception as exc:
            metrics.UNEXPECTED_ERRORS.labels(component="worker").inc()
            log.exception("unexpected error in a %s job", self._lane.name)
            return Retry(f"unexpected: {type(exc).__name__}: {exc}")

    async def _carry_out(self, msg: Msg, fate: _Fate, job: J | None, attempt: int) -> None:
        """The bus half of a verdict (the render service did the catalog half)."""
        verdict, reason, delay = fate.verdict, fate.reason, fate.delay
        if verdict is Verdict.NAK:
            log.warning("retrying job in %.1fs (attempt %d): %s", delay, attempt, reason)
            await msg.nak(delay=delay)
            metrics.JOBS.labels(outcome="retry").inc()
        elif verdict in (Verdict.FAIL, Verdict.DEAD_LETTER):
            await self._dead_letter(msg, reason, job, attempt)
        else:
            await msg.ack()
            metrics.JOBS.labels(outcome="ack").inc()

    async def _dead_letter(self, msg: Msg, reason: str, job: J | None, attempt: int) -> None:
        letter = DeadLetter(
            job=job if isinstance(job, RenderJob) else None,
            lane=self._lane.name,
            payload="" if isinstance(job, RenderJob) else msg.data.decode("utf-8", "replace"),
            reason=reason,
            attempts=attempt,
        )
        # Named by the job's place in the stream: a retried publish is stored once.
        await self._bus.dead_letter(
            letter, msg_id=f"{self._lane.name}:{msg.metadata.sequence.stream}:dlq"
        )
        await msg.term()
        metrics.JOBS.labels(outcome="dead_letter").inc()
        log.warning(
            "%s job dead-lettered after %d attempt(s): %s", self._lane.name, attempt, reason
        )


def _reason(outcome: Outcome) -> str:
    return "" if isinstance(outcome, Ack) else outcome.reason
