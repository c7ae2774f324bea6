"""The header check on the first bytes of a resumable upload (refuse early, as a plain
upload does), without the whole file at hand.

The first PATCH (offset 0) streams through the one-pass header scanner
(:class:`~pipeline.imaging.scan.HeaderScanner`) on its way to the store: non-images and
headers that break a limit are refused there (415/422), before more is stored. A header that
lies beyond that PATCH is not a refusal: the ingest gate scans the whole upload once it
completes.
"""

from __future__ import annotations

from pipeline.domain.errors import UploadTooLarge
from pipeline.imaging.scan import HeaderScanner
from pipeline.runtime.settings import LimitsSettings


class HeadCheck:
    """Scans the bytes of an upload's first PATCH as they pass.

    ``mime`` is the detected type once the header is known. :meth:`feed` raises an
    :class:`~pipeline.domain.errors.InputError` as soon as the bytes break a limit;
    :meth:`finish` raises one for an upload that arrived whole in this PATCH and is not
    acceptable (no header, too many frames or scans).
    """

    def __init__(self, limits: LimitsSettings, *, length: int, active: bool) -> None:
        self._scanner = HeaderScanner(limits, videos=True) if active else None
        self._limits = limits
        self._length = length
        self._fed = 0
        self.mime: str | None = None

    def feed(self, chunk: bytes) -> None:
        if self._scanner is None:
            return
        self._scanner.feed(chunk)
        self._fed += len(chunk)
        if self.mime is None and self._scanner.header is not None:
            self.mime = self._scanner.header.mime
            self._check_length(self.mime)

    def _check_length(self, mime: str) -> None:
        """The declared ``Upload-Length`` against the limit of the type the bytes show."""
        name, limit = self._limits.upload_limit(mime)
        if self._length > limit:
            raise UploadTooLarge(
                f"Upload-Length {self._length} over {name}={limit} for {mime}",
                public_message=f"upload exceeds the limit of {limit} bytes",
            )

    def finish(self) -> None:
        if self._scanner is not None and self._fed == self._length:
            self.mime = self._scanner.finish().mime
