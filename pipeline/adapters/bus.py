"""The JetStream bus: streams, publishing with de-duplication, and pull consumers.

Handlers return an explicit :data:`Outcome`; the bus maps it to ack, nak with exponential
backoff, or term plus a dead letter. Long work sends in-progress heartbeats so JetStream does
not redeliver a job that is still being rendered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from pipeline.adapters.events import JetStreamEvents
from pipeline.domain import names
from pipeline.domain.errors import BusError, ConfigurationError
from pipeline.domain.messages import (
    RERENDER_REASONS,
    CleanupJob,
    DeadLetter,
    Event,
    RenderJob,
    StoredDeadLetter,
    decode,
    event_msg_id,
    event_subject_parts,
    utcnow,
)
from pipeline.jobs.registry import Lane, job_lanes
from pipeline.runtime import metrics
from pipeline.runtime.settings import JobsSettings, NatsSettings, Settings

log = logging.getLogger(__name__)

_DAY = 24 * 3600.0
# JetStream's answer to a publish past max_msgs_per_subject with discard_new_per_subject.
_MAX_PER_SUBJECT_EXCEEDED = 10077


class TenantShareFull(Exception):
    """The tenant's render subject holds its share of jobs: the publish was refused."""


@dataclass(frozen=True)
class ConsumerState:
    """One durable consumer as JetStream reports it (``$JS.API.CONSUMER.INFO``)."""

    name: str
    pending: int  # messages not yet delivered to any worker
    ack_pending: int  # delivered, not yet acknowledged: being worked on or about to be redelivered
    redelivered: int  # messages delivered more than once, still unacknowledged
    waiting: int  # pull requests waiting for messages: idle worker slots


@dataclass(frozen=True)
class BusState:
    consumers: list[ConsumerState]
    dead_letters: int  # messages held in the dead-letter stream


def stream_configs(settings: NatsSettings, jobs: JobsSettings) -> list[StreamConfig]:
    """The streams the pipeline needs (NACK manifests in deploy/ declare the same)."""
    storage, replicas = StorageType.FILE, settings.stream_replicas
    return [
        StreamConfig(
            name=names.RENDER_STREAM,
            subjects=list(names.RENDER_STREAM_SUBJECTS),
            retention=RetentionPolicy.WORK_QUEUE,
            # Fairness: at most tenant_queued jobs per tenant subject; a publish past it is
            # refused (the image waits in the catalog), never an older job dropped.
            max_msgs_per_subject=jobs.tenant_queued,
            discard=DiscardPolicy.NEW,
            discard_new_per_subject=True,
            duplicate_window=settings.duplicate_window_seconds,
            storage=storage,
            num_replicas=replicas,
        ),
        StreamConfig(
            name=names.JOBS_STREAM,
            subjects=list(names.JOBS_SUBJECTS),
            retention=RetentionPolicy.WORK_QUEUE,
            duplicate_window=settings.duplicate_window_seconds,
            storage=storage,
            num_replicas=replicas,
        ),
        StreamConfig(
            name=names.EVENTS_STREAM,
            subjects=list(names.EVENTS_SUBJECTS),
            retention=RetentionPolicy.LIMITS,
            max_age=7 * _DAY,
            duplicate_window=settings.duplicate_window_seconds,
            storage=storage,
            num_replicas=replicas,
        ),
        StreamConfig(
            name=names.DLQ_STREAM,
            subjects=[names.DLQ_SUBJECT],
            retention=RetentionPolicy.LIMITS,
            max_age=30 * _DAY,
            storage=storage,
            num_replicas=replicas,
        ),
    ]


def consumer_configs(lanes: Sequence[Lane[Any]]) -> list[ConsumerConfig]:
    """Durable pull consumers of the jobs stream, one per lane of the job registry."""
    return [
        ConsumerConfig(
            durable_name=lane.consumer,
            description=lane.description,
            filter_subject=lane.subject,
            max_ack_pending=lane.max_ack_pending,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=lane.ack_wait_seconds,
            max_deliver=lane.max_deliver,
        )
        for lane in lanes
    ]


class JetStreamBus:
    """A connection to NATS with the JetStream operations the pipeline uses."""

    def __init__(
        self,
        settings: NatsSettings,
        nc: NatsClient,
        lanes: Sequence[Lane[Any]] = (),
        jobs: JobsSettings | None = None,
    ) -> None:
        self.settings = settings
        self.jobs = jobs or JobsSettings()
        # The registry's lanes, declared as consumers and reported by state(); without them
        # (a CLI that only publishes), the default settings' lanes with these bus settings.
        self.lanes = tuple(lanes) or job_lanes(
            Settings.model_construct(nats=settings, jobs=self.jobs)
        )
        self._nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.events = JetStreamEvents(self.js)

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls,
        settings: NatsSettings,
        *,
        name: str = "gallery",
        wait_at_start: bool = True,
        lanes: Sequence[Lane[Any]] = (),
        jobs: JobsSettings | None = None,
    ) -> AsyncIterator[JetStreamBus]:
        """Connect; once connected, reconnect without limit (every 0.5 s) after any loss.

        ``wait_at_start``: the first connection is tried the same way, forever; without it, each
        server is tried twice and :class:`BusError` raised, so the caller can back off (and
        stop) on its own terms.
        """
        closing = asyncio.Event()

        async def on_disconnect() -> None:
            if not closing.is_set():  # our own drain at exit is not news
                log.warning("nats: disconnected, reconnecting")

        async def on_reconnect() -> None:
            log.info("nats: reconnected")

        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))  # why a first connection failed: a refused password, say
            log.warning("nats: %s", exc)

        try:
            nc = await nats.connect(
                servers=[url.strip() for url in settings.url.split(",")],
                name=name,
                connect_timeout=5,
                reconnect_time_wait=0.5,
                # nats-py counts the first connection's tries as reconnects: 2 means three
                # tries (a refused password can reach the client as a bare connection reset).
                max_reconnect_attempts=-1 if wait_at_start else 2,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
                error_cb=on_error,
                # The role's own user (pipeline.domain.roles); none on an open server.
                user=settings.user or None,
                password=settings.password or None,
            )
        except (OSError, nats.errors.Error) as exc:
            why = f" (last error: {_telling(errors)})" if errors else ""
            raise BusError(f"cannot connect to NATS at {settings.url}: {exc}{why}") from exc
        nc.options["max_reconnect_attempts"] = -1  # connected: never give up on it again
        try:
            yield cls(settings, nc, lanes, jobs)
        finally:
            closing.set()
            with contextlib.suppress(Exception):
                await nc.drain()

    async def declare(self) -> None:
        """Create or update every stream and consumer; safe to run from every process."""
        try:
            for config in stream_configs(self.settings, self.jobs):
                try:
                    await self.js.stream_info(config.name or "")
                    await self.js.update_stream(config)
                except nats.js.errors.NotFoundError:
                    await self.js.add_stream(config)
            for lane, consumer in zip(self.lanes, consumer_configs(self.lanes), strict=True):
                await self.js.add_consumer(lane.stream, consumer)
        except nats.js.errors.BadRequestError as exc:
            raise ConfigurationError(
                f"JetStream refused the stream/consumer config: {exc}"
            ) from exc
        except (nats.errors.Error, OSError) as exc:
            raise BusError(f"cannot declare JetStream streams: {exc}") from exc

    async def check(self) -> None:
        """Raise BusError unless the render consumer answers."""
        try:
            await self.js.consumer_info(names.RENDER_STREAM, names.RENDER_CONSUMER, timeout=2)
        except (nats.errors.Error, OSError) as exc:
            raise BusError(f"JetStream not ready: {exc}") from exc

    async def _publish(self, subject: str, payload: bytes, msg_id: str) -> None:
        try:
            # Nats-Msg-Id makes JetStream drop a second publish of the same id inside the
            # duplicate window, so retries after a lost PubAck do not double the work.
            await self.js.publish(subject, payload, timeout=5, headers={"Nats-Msg-Id": msg_id})
        except nats.js.errors.APIError as exc:
            if exc.err_code == _MAX_PER_SUBJECT_EXCEEDED:
                raise TenantShareFull(subject) from exc
            raise BusError(f"cannot publish to {subject}: {exc}") from exc
        except (nats.errors.Error, OSError) as exc:
            raise BusError(f"cannot publish to {subject}: {exc}") from exc

    async def publish_job(self, job: RenderJob) -> bool:
        """Queue a render job; False when the tenant already has its share of jobs waiting in
        the render stream (the image stays ``queued``: a finished job of the same tenant or
        the sweeper publishes it later). Raises BusError when NATS fails."""
        if job.reason in RERENDER_REASONS:
            subject = names.BACKFILL_SUBJECT
        else:
            subject = names.render_subject(
                job.tenant, job.image_id, self.jobs.weight(job.tenant), media=job.media
            )
        if job.reason in ("upload", "outbox"):
            # The upload's job is named by the image id; a sweep's by the stale state it saw
            # (see RenderJob.sweep), so concurrent sweepers publish one job between them.
            msg_id = f"{job.image_id}:{job.sweep}" if job.sweep else job.image_id
        else:
            # A redrive or backfill is a deliberate new run of an image that already ran.
            msg_id = f"{job.image_id}:{job.reason}:{utcnow().timestamp()}"
        try:
            await self._publish(subject, job.to_bytes(), msg_id)
        except TenantShareFull:
            metrics.JOBS_HELD_BACK.inc()
            return False
        return True

    async def publish_cleanup(self, job: CleanupJob) -> None:
        """Queue the removal of a deleted image's objects; raises BusError.

        The id names the image: a retried publish (lost PubAck) is stored once, and image
        ids are never reused, so no later delete shares it.
        """
        await self._publish(names.CLEANUP_SUBJECT, job.to_bytes(), f"cleanup:{job.image_id}")

    async def publish_event(self, event: Event) -> None:
        """Tell listeners; a failure is logged, not raised.

        Events are notifications: the catalog is the source of truth, so a lost event must
        neither fail an upload or delete nor make a finished render run again.
        """
        kind, action = event_subject_parts(event)
        subject = names.event_subject(kind, action, event.tenant)
        try:
            await self._publish(subject, event.to_bytes(), event_msg_id(event))
        except BusError as exc:
            log.warning("could not publish %s: %s", subject, exc)

    async def dead_letter(self, letter: DeadLetter, *, msg_id: str) -> None:
        """Keep ``letter`` in the dead-letter stream; ``msg_id`` de-duplicates a retry."""
        await self._publish(names.DLQ_SUBJECT, letter.to_bytes(), msg_id)
        metrics.DEAD_LETTERS.labels(reason=letter.reason.split(":", 1)[0][:40]).inc()

    async def dead_letters(self, limit: int = 1000) -> list[StoredDeadLetter]:
        """Read up to ``limit`` dead letters (oldest first) without consuming them."""
        letters: list[StoredDeadLetter] = []
        try:
            info = await self.js.stream_info(names.DLQ_STREAM)
        except nats.errors.Error as exc:
            raise BusError(f"cannot read {names.DLQ_STREAM}: {exc}") from exc
        seq = info.state.first_seq
        while seq and seq <= info.state.last_seq and len(letters) < limit:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                raw = await self.js.get_msg(names.DLQ_STREAM, seq)
                letters.append(StoredDeadLetter(seq, decode(DeadLetter, raw.data or b"")))
            seq += 1
        return letters

    async def remove_dead_letter(self, seq: int) -> None:
        try:
            await self.js.delete_msg(names.DLQ_STREAM, seq)
        except nats.errors.Error as exc:
            raise BusError(f"cannot remove dead letter {seq}: {exc}") from exc

    async def publish_key_revoked(self, key_hash: str) -> None:
        """Tell every gateway to forget this key now (core NATS: gateways listening now are
        the ones with caches; one that misses it drops the key when its cache entry ends)."""
        try:
            await self._nc.publish(names.KEYS_REVOKED_SUBJECT, key_hash.encode())
            await self._nc.flush(timeout=5)
        except (nats.errors.Error, OSError) as exc:
            log.warning("could not announce a key revocation: %s", exc)

    async def subscribe_key_revocations(
        self, callback: Callable[[str], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        """Call ``callback`` with the hash of each key revoked from now on."""

        async def on_msg(msg: Msg) -> None:
            await callback(msg.data.decode())

        sub = await self._nc.subscribe(names.KEYS_REVOKED_SUBJECT, cb=on_msg)
        return sub.unsubscribe

    @contextlib.asynccontextmanager
    async def pull(self, lane: Lane[Any]) -> AsyncIterator[JetStreamContext.PullSubscription]:
        sub = await self.js.pull_subscribe_bind(durable=lane.consumer, stream=lane.stream)
        try:
            yield sub
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def has_waiting(self, lanes: Sequence[Lane[Any]]) -> bool:
        """Whether any of ``lanes`` has a job no worker has taken yet; raises BusError."""
        try:
            for lane in lanes:
                info = await self.js.consumer_info(lane.stream, lane.consumer, timeout=2)
                if info.num_pending:
                    return True
        except (TimeoutError, nats.errors.Error) as exc:
            raise BusError(f"cannot read the {lanes[0].name} lane's backlog: {exc}") from exc
        return False

    async def state(self) -> BusState:
        """The job consumers' backlog and the dead-letter count; raises BusError."""
        consumers = []
        try:
            for lane in self.lanes:
                info = await self.js.consumer_info(lane.stream, lane.consumer, timeout=5)
                consumers.append(
                    ConsumerState(
                        lane.consumer,
                        info.num_pending or 0,
                        info.num_ack_pending or 0,
                        info.num_redelivered or 0,
                        info.num_waiting or 0,
                    )
                )
            dlq = await self.js.stream_info(names.DLQ_STREAM)
        except (TimeoutError, nats.errors.Error) as exc:
            raise BusError(f"cannot read JetStream state: {exc}") from exc
        return BusState(consumers, dlq.state.messages)


def _telling(errors: list[str]) -> str:
    """The error that says most of a failed first connection: nats-server writes
    ``-ERR 'Authorization Violation'`` and closes, and a try may see only the reset."""
    return next((e for e in errors if "authorization" in e.lower()), errors[-1])
