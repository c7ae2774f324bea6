"""The ingest gate's header scanner: sniff, header and limits in one pass over the upload."""

from __future__ import annotations

from pipeline.domain.errors import PipelineError, UndecodableImage, UnsupportedMediaType
from pipeline.imaging.scan.sniff import SNIFF_BYTES, VIDEO_FORMATS, accepted, sniff
from pipeline.imaging.scan.stream import Driver
from pipeline.imaging.scan.tally import ImageHeader, Tally
from pipeline.runtime.settings import LimitsSettings


class HeaderScanner:
    """Feed an upload chunk by chunk; learn its type, size and decode cost as the bytes pass.

    Usage::

        scanner = HeaderScanner(settings.limits)
        async for chunk in body:
            scanner.feed(chunk)      # raises as soon as a limit breaks
            ...                      # (scanner.header is set once the size is known)
        header = scanner.finish()    # raises if the header never came or a count is too high

    Memory: at most :data:`~pipeline.imaging.scan.stream.BUFFER_BOUND` bytes are kept between
    calls whatever the file (``buffered_bytes``); skipped metadata is never copied.

    With ``videos``, MP4, QuickTime, 3GP, WebM and Matroska files are probed too
    (:mod:`.mp4`, :mod:`.matroska`: duration, frame size, codecs, rotation, checked against the
    video limits); without it they are refused with 415 like any unsupported type.

    Raises (all :class:`~pipeline.domain.errors.InputError`): :class:`UnsupportedMediaType` (415)
    for unknown magic bytes (and a video with no video stream or an undecodable codec),
    :class:`UploadTooLarge` (413) above ``max_upload_bytes`` (``max_video_upload_bytes``),
    :class:`UndecodableImage` (422) for an empty file or a malformed or missing header,
    :class:`ImageTooLarge`, :class:`TooManyFrames`, :class:`TooManyScans`,
    :class:`VideoTooLong` and :class:`TooManyStreams` (422). After an
    error the scanner is spent: every later call raises the same error.
    """

    def __init__(self, limits: LimitsSettings, *, videos: bool = False) -> None:
        self._tally = Tally(limits)
        self._videos = videos
        self._head = b""
        self._driver: Driver | None = None
        self._format = ""
        self._error: PipelineError | None = None

    @property
    def header(self) -> ImageHeader | None:
        """The header as soon as the size is known (frames and scans: counted so far)."""
        return self._tally.header

    @property
    def buffered_bytes(self) -> int:
        """Bytes the scanner holds right now (the memory bound the tests check)."""
        return len(self._head) + (self._driver.held_bytes if self._driver else 0)

    def feed(self, chunk: bytes) -> None:
        """Scan the next chunk of the upload."""
        self._guard()
        try:
            self._tally.add_bytes(len(chunk))
            if self._driver is None:
                self._head += chunk
                if len(self._head) >= SNIFF_BYTES:
                    self._start()
            else:
                self._driver.feed(chunk)
        except PipelineError as exc:
            self._error = exc
            raise

    def finish(self) -> ImageHeader:
        """The final header once the whole upload was fed; raises if it is unacceptable."""
        self._guard()
        try:
            if self._driver is None:
                if not self._head:
                    raise UndecodableImage("empty file", public_message="the file is empty")
                self._start()
            assert self._driver is not None
            self._driver.close()
            header = self._tally.header
            if header is None:
                raise UndecodableImage(
                    f"no {self._format} header in {self._tally.bytes} bytes",
                    public_message=f"the {self._format} header cannot be read",
                )
            self._tally.check_scans()
        except PipelineError as exc:
            self._error = exc
            raise
        return header

    def _start(self) -> None:
        found = sniff(self._head[:SNIFF_BYTES])
        if found is None:
            kinds = "image or video" if self._videos else "image"
            raise UnsupportedMediaType(
                "unknown magic bytes",
                public_message=f"not a supported {kinds} type ({accepted(videos=self._videos)})",
            )
        self._format, factory = found
        self._tally.video = self._format in VIDEO_FORMATS
        if self._tally.video and not self._videos:
            # The header probe knows videos; the renderer does not render them yet.
            raise UnsupportedMediaType(
                f"{self._format} video",
                public_message=f"videos are not accepted ({accepted(videos=False)})",
            )
        head, self._head = self._head, b""
        self._driver = Driver(factory(self._tally))
        self._driver.feed(head)

    def _guard(self) -> None:
        if self._error is not None:
            raise self._error


def scan_header(data: bytes, limits: LimitsSettings, *, videos: bool = False) -> ImageHeader:
    """Scan a whole file held in memory (the worker's second check)."""
    scanner = HeaderScanner(limits, videos=videos)
    scanner.feed(data)
    return scanner.finish()
