"""The header check on the first bytes of a resumable upload (refuse early, as a plain
upload does), without the whole file at hand.

A PATCH that starts at offset 0 shows its first ``probe_bytes`` to :class:`HeadCheck`. Non-
images and headers that break a limit are refused there (415/422), before more is stored.
When that PATCH carries fewer bytes than the probe wants, an unreadable header is not yet a
refusal (it may lie further on): the full ingest gate decides once the upload completes.
"""

from __future__ import annotations

from pipeline.domain.errors import UndecodableImage, UnsupportedMediaType
from pipeline.imaging.probe import probe_header
from pipeline.imaging.sniff import SNIFF_BYTES, sniff_mime
from pipeline.runtime.settings import LimitsSettings


class HeadCheck:
    """Collects the first bytes of an upload's first PATCH and checks them once.

    ``mime`` is the sniffed type once known. Raises
    :class:`~pipeline.domain.errors.InputError` subclasses from :meth:`feed` (as soon as
    ``probe_bytes`` arrived) or :meth:`finish`.
    """

    def __init__(self, limits: LimitsSettings, *, length: int, active: bool) -> None:
        self._limits = limits
        self._length = length
        self._wanted = min(limits.probe_bytes, length)
        self._head = bytearray()
        self._pending = active
        self.mime: str | None = None

    def feed(self, chunk: bytes) -> None:
        if not self._pending:
            return
        self._head += chunk[: self._wanted - len(self._head)]
        if len(self._head) >= self._wanted:
            self._check()

    def finish(self) -> None:
        if self._pending:
            self._check()

    def _check(self) -> None:
        self._pending = False
        head = bytes(self._head)
        whole = len(head) == self._length
        window = len(head) >= self._wanted
        if len(head) < SNIFF_BYTES and not whole:
            return  # too few bytes to tell: the gate decides on completion
        if sniff_mime(head) is None:
            raise UnsupportedMediaType(
                "unknown magic bytes",
                public_message="not a supported image (JPEG, PNG, GIF, WebP, AVIF, HEIC, TIFF)",
            )
        try:
            self.mime = probe_header(head, self._limits, complete=whole).mime
        except UndecodableImage as exc:
            if whole:
                raise
            if window:
                raise UndecodableImage(
                    str(exc),
                    public_message=f"{exc.public_message} within its first {len(head)} bytes"
                    " (the gateway's header probe limit)",
                ) from exc
