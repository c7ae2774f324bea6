"""The fate table row by row: each (result, delivery history) -> the verdict a user sees."""

from __future__ import annotations

import pytest

from pipeline.domain import names
from pipeline.jobs.fate import TABLE, History, Result, Verdict, backoff_delay, decide
from pipeline.jobs.registry import job_lanes
from pipeline.runtime.settings import Settings

pytestmark = pytest.mark.unit

FIRST, LAST = 1, 6  # deliveries of a lane with max_deliver = 6


def history(attempt: int, *, swept: bool, rounds_left: bool | None = None) -> History:
    return History(attempt=attempt, max_deliver=LAST, swept=swept, rounds_left=rounds_left)


ROWS = [
    # (result, history, verdict, why)
    (Result.DONE, history(LAST, swept=True), Verdict.ACK, "done is done, even on the last try"),
    (Result.UNDECODABLE, history(FIRST, swept=True), Verdict.DEAD_LETTER, "no job to retry"),
    (Result.REJECTED, history(FIRST, swept=True), Verdict.FAIL, "the image fails at once"),
    (Result.REJECTED, history(FIRST, swept=False), Verdict.DEAD_LETTER, "a backfill: letter"),
    (Result.TRANSIENT, history(FIRST, swept=True), Verdict.NAK, "deliveries left: back off"),
    (Result.BUSY, history(FIRST, swept=True), Verdict.NAK, "look again when the lease lapses"),
    (Result.CRASHED, history(FIRST, swept=True), Verdict.NAK, "crashes left: another try"),
    (Result.TRANSIENT, history(LAST, swept=False), Verdict.DEAD_LETTER, "backfill out of tries"),
    (Result.BUSY, history(LAST, swept=False), Verdict.DEAD_LETTER, "no sweeper for this lane"),
    (Result.CRASHED, history(LAST, swept=False), Verdict.DEAD_LETTER, "no sweeper either"),
    (Result.BUSY, history(LAST, swept=True), Verdict.SWEEPER, "the lease holder or sweeper"),
    (Result.CRASHED, history(LAST, swept=True), Verdict.SWEEPER, "lease released, swept"),
    (Result.TRANSIENT, history(LAST, swept=True, rounds_left=True), Verdict.REQUEUE, "round"),
    (Result.TRANSIENT, history(LAST, swept=True, rounds_left=False), Verdict.FAIL, "gave up"),
    (Result.TRANSIENT, history(LAST, swept=True), Verdict.SWEEPER, "no lease: still queued"),
]


@pytest.mark.parametrize(("result", "facts", "verdict", "why"), ROWS)
def test_each_row(result: Result, facts: History, verdict: Verdict, why: str) -> None:
    assert decide(result, facts) is verdict, why


def test_every_row_of_the_table_is_tested() -> None:
    assert len(ROWS) == len(TABLE)
    tested = {(r, h.last_delivery, h.swept, h.rounds_left) for r, h, _v, _w in ROWS}
    for result, last, swept, rounds, _verdict in TABLE:
        assert any(
            r is result
            and (last is None or last == t_last)
            and (swept is None or swept == t_swept)
            and (rounds is None or rounds == t_rounds)
            for r, t_last, t_swept, t_rounds in tested
        ), (result, last, swept, rounds)


@pytest.mark.parametrize("result", list(Result))
def test_unlimited_deliveries_never_run_out(result: Result) -> None:
    """A cleanup job (max_deliver -1) is retried until its store answers, at any attempt."""
    facts = History(attempt=10_000, max_deliver=-1)
    if result in (Result.TRANSIENT, Result.BUSY, Result.CRASHED):
        assert decide(result, facts) is Verdict.NAK


@pytest.mark.parametrize("result", [Result.TRANSIENT, Result.BUSY, Result.CRASHED])
@pytest.mark.parametrize("attempt", [FIRST, LAST - 1, LAST])
def test_a_video_job_no_worker_could_run_is_never_failed_nor_dead_lettered(
    result: Result, attempt: int
) -> None:
    """Rows NAK (deliveries left) and SWEEPER (the last delivery of a swept lane, no image in
    hand): a video lane job that found the render busy, crashed, or a dependency out, without
    a lease of its own, waits (redelivered, or republished by the sweeper); only a rejected
    input or a spent retry round fails the image. A video job no worker fetches is never
    delivered, so no row applies at all: it stays pending in the stream."""
    video = {lane.name: lane for lane in job_lanes(Settings())}[names.VIDEO_CONSUMER]
    facts = History(attempt=attempt, max_deliver=LAST, swept=video.swept)
    assert decide(result, facts) in (Verdict.NAK, Verdict.SWEEPER)


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_delay(n, base=1.0, cap=5.0) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 5, 5]
