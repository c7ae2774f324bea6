"""What a job handler answers: ack, retry later, or give up; and the delivery it answers.

The consumer adapter maps an outcome to JetStream's ack / nak(delay) / term plus a dead
letter (the shape of faststream's Ack/Nack/Reject); handlers never touch the message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pipeline.domain.messages import CleanupJob, RenderJob


@dataclass(frozen=True)
class Ack:
    """The job is done (or was already done): remove it from the queue."""


@dataclass(frozen=True)
class Retry:
    """A transient failure: deliver again after ``delay`` seconds (None: exponential backoff)."""

    reason: str
    delay: float | None = None


@dataclass(frozen=True)
class Terminal:
    """Retrying cannot help: dead-letter the job and stop delivering it."""

    reason: str


Outcome = Ack | Retry | Terminal


@dataclass(frozen=True)
class Delivery:
    """One delivery of a job, as a handler sees it (``attempt`` counts from 1)."""

    job: RenderJob
    attempt: int
    subject: str


Handler = Callable[[Delivery], Awaitable[Outcome]]

CleanupHandler = Callable[[CleanupJob, int], Awaitable[Outcome]]
"""Runs one cleanup job; the int is the delivery attempt (from 1)."""
