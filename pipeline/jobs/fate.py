"""The one owner of a job's fate: what happens to a delivery, as a table.

A handler says how its run went (:class:`Result`); the delivery's history says how many
deliveries are left and whether an image is in hand with retry rounds to spend. From those two,
:func:`decide` picks one :class:`Verdict`. The render service carries out the catalog part of
a verdict (requeue the image, mark it failed), the consumer the bus part (ack, nak with a delay,
dead-letter); neither decides on its own. ``docs/architecture.md`` step 5 prints the same table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Result(enum.Enum):
    """How one run of a handler ended."""

    DONE = "done"  # finished, or nothing left to do (duplicate, deleted, already final)
    TRANSIENT = "transient"  # a dependency failed: the job may succeed later
    BUSY = "busy"  # another worker holds the image's lease: look again when it lapses
    CRASHED = "crashed"  # the render process died under the image (one more crash counted)
    REJECTED = "rejected"  # the input cannot succeed (undecodable image, crash limit reached)
    UNDECODABLE = "undecodable"  # the message itself is malformed: no job to run


class Verdict(enum.Enum):
    """What becomes of the job (and of its image, where the lane has one)."""

    ACK = "ack"  # remove the job
    NAK = "nak"  # deliver again after a delay
    SWEEPER = "sweeper"  # remove the job; the image is queued or under a lease that lapses,
    # and the outbox sweeper republishes it (no delivery is left to wait for)
    REQUEUE = "requeue"  # put the image back to queued (one more round), remove the job
    FAIL = "fail"  # mark the image failed with the reason, dead-letter the job
    DEAD_LETTER = "dead_letter"  # keep the job in the dead-letter stream with the reason


@dataclass(frozen=True)
class History:
    """What the decision needs to know about a delivery besides its result.

    ``attempt`` counts deliveries from 1; ``max_deliver`` <= 0 means unlimited (the lane
    retries until its dependency answers). ``swept``: the outbox sweeper republishes the
    lane's unfinished images (the render lane), so a job out of deliveries is not lost.
    ``rounds_left``: None while no image is in hand (no lease was taken), else whether the
    image may spend another round of deliveries (``max_rounds``).
    """

    attempt: int
    max_deliver: int
    swept: bool = False
    rounds_left: bool | None = None

    @property
    def last_delivery(self) -> bool:
        return 0 < self.max_deliver <= self.attempt


# (result, last delivery, swept lane, rounds left) -> verdict. None matches anything.
# Read top to bottom; the first row that matches decides. Each row has a unit test.
TABLE: tuple[tuple[Result, bool | None, bool | None, bool | None, Verdict], ...] = (
    (Result.DONE, None, None, None, Verdict.ACK),
    (Result.UNDECODABLE, None, None, None, Verdict.DEAD_LETTER),
    (Result.REJECTED, None, True, None, Verdict.FAIL),
    (Result.REJECTED, None, False, None, Verdict.DEAD_LETTER),
    (Result.TRANSIENT, False, None, None, Verdict.NAK),
    (Result.BUSY, False, None, None, Verdict.NAK),
    (Result.CRASHED, False, None, None, Verdict.NAK),
    (Result.TRANSIENT, True, False, None, Verdict.DEAD_LETTER),
    (Result.BUSY, True, False, None, Verdict.DEAD_LETTER),
    (Result.CRASHED, True, False, None, Verdict.DEAD_LETTER),
    # The last delivery of a swept lane: the image is not the job's to lose.
    (Result.BUSY, True, True, None, Verdict.SWEEPER),
    (Result.CRASHED, True, True, None, Verdict.SWEEPER),
    (Result.TRANSIENT, True, True, True, Verdict.REQUEUE),
    (Result.TRANSIENT, True, True, False, Verdict.FAIL),
    # No lease in hand (the catalog failed before the claim): the image stays queued.
    (Result.TRANSIENT, True, True, None, Verdict.SWEEPER),
)


def decide(result: Result, history: History) -> Verdict:
    """The verdict of the first row of :data:`TABLE` matching ``result`` and ``history``."""
    facts = (history.last_delivery, history.swept, history.rounds_left)
    for row_result, *conditions, verdict in TABLE:
        if row_result is result and all(
            want is None or want == have for want, have in zip(conditions, facts, strict=True)
        ):
            return verdict
    raise AssertionError(f"no row of the fate table for {result} {history}")  # pragma: no cover


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Seconds before delivery ``attempt + 1``: base, 2x base, 4x base ... capped at ``cap``."""
    return float(min(base * 2 ** max(attempt - 1, 0), cap))
