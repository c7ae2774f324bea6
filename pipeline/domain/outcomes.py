"""What a job handler answers: ack, retry later, or give up; and the delivery it answers.

The fate table (:mod:`pipeline.jobs.fate`) turns an outcome and the delivery's history into a
verdict, which the consumer adapter carries out (the shape of faststream's Ack/Nack/Reject);
handlers never touch the message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

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


J = TypeVar("J", RenderJob, CleanupJob)


@dataclass(frozen=True)
class Delivery(Generic[J]):
    """One delivery of a job, as a handler sees it (``attempt`` counts from 1)."""

    job: J
    attempt: int
    subject: str


Handler = Callable[[Delivery[RenderJob]], Awaitable[Outcome]]
"""The render and backfill lanes' handler."""

CleanupHandler = Callable[[Delivery[CleanupJob]], Awaitable[Outcome]]
