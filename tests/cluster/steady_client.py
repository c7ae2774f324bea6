"""A client that keeps uploading real photos through one address while the cluster suffers,
and writes down every attempt: when, what came back, whether it was retried.

Retrying is what a real client does with a connection error or a 503 carrying Retry-After;
anything else is a failure the test reports. The same bytes sent again are the same image (the
gateway deduplicates by tenant and SHA-256), so a retry after a lost response cannot make a
second copy: duplicates would show as more images listed than photos sent.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.images import jpeg_bytes


@dataclass(frozen=True)
class Attempt:
    photo: int
    started: float  # time.monotonic()
    ended: float
    # "202", "200", "503+retry-after", "connection" (refused, reset, unreachable, or no
    # connection within UploadRun.timeout), "timeout" (sent, no answer within it), or
    # "<status>: <body>"
    outcome: str


@dataclass
class UploadRun:
    """``count`` distinct photos sent one after another (``parallel`` at a time) to ``url``."""

    url: str
    key: str
    count: int
    seed: int
    parallel: int = 2
    timeout: float = 10.0  # per attempt: a dead node's address only times out
    give_up_after: float = 600.0
    attempts: list[Attempt] = field(default_factory=list)
    accepted: dict[int, str] = field(default_factory=dict)  # photo -> image id
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        photos = iter(range(self.count))
        for _ in range(self.parallel):
            thread = threading.Thread(target=self._loop, args=(photos,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)
        assert not any(t.is_alive() for t in self._threads), "the upload run did not finish"

    def _loop(self, photos: Iterator[int]) -> None:
        while True:
            with self._lock:
                photo = next(photos, None)
            if photo is None:
                return
            self._send(photo)

    def _send(self, photo: int) -> None:
        body = jpeg_bytes(1200, 800, seed=self.seed + photo, camera=True)
        deadline = time.monotonic() + self.give_up_after
        while time.monotonic() < deadline:
            started = time.monotonic()
            outcome, image_id, wait = self._attempt(body)
            with self._lock:
                self.attempts.append(Attempt(photo, started, time.monotonic(), outcome))
                if image_id:
                    self.accepted[photo] = image_id
            if image_id or wait is None:
                return
            time.sleep(wait)

    def _attempt(self, body: bytes) -> tuple[str, str | None, float | None]:
        """(outcome, image id if accepted, seconds to wait before retrying or None: give up)."""
        request = urllib.request.Request(
            f"{self.url}/v1/images",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "image/jpeg"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                doc = json.loads(response.read())
                return str(response.status), str(doc["id"]), None
        except urllib.error.HTTPError as exc:
            retry_after = exc.headers.get("Retry-After")
            if exc.code == 503 and retry_after is not None:
                return "503+retry-after", None, min(float(retry_after), 2.0)
            return f"{exc.code}: {exc.read()[:200]!r}", None, None
        except TimeoutError:  # sent whole, no answer in time: it may have been accepted
            return "timeout", None, 0.5
        except OSError:  # refused, reset, unreachable, or timed out connecting or sending
            return "connection", None, 0.5

    def tried(self) -> int:
        return len({a.photo for a in self.attempts})

    def retried(self) -> int:
        """Photos that needed more than one attempt."""
        per_photo: dict[int, int] = {}
        for attempt in self.attempts:
            per_photo[attempt.photo] = per_photo.get(attempt.photo, 0) + 1
        return sum(1 for n in per_photo.values() if n > 1)

    def failures(self) -> list[Attempt]:
        return [a for a in self.attempts if a.outcome not in ("200", "202")]

    def unexpected(self) -> list[Attempt]:
        """Failures a client could not have retried: no connection error, timeout or 503."""
        retryable = ("connection", "timeout", "503+retry-after")
        return [a for a in self.failures() if a.outcome not in retryable]

    def slowest(self) -> float:
        """Seconds of the longest attempt (a timed-out one counts its timeout)."""
        return max((a.ended - a.started for a in self.attempts), default=0.0)
