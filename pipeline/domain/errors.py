"""One error tree for the whole pipeline.

Every error carries what its callers need to act on it without parsing strings: the HTTP
status the gateway answers with, a message that is safe to show a client, and whether the
operation may succeed if retried. Built-in bases are mixed in so ``except TimeoutError``
still works where that is the natural thing to write.
"""

from __future__ import annotations

from typing import Generic, TypeVar

# The tree imports nothing of ours: models import messages, which import this module.
RecordT = TypeVar("RecordT")


class PipelineError(Exception):
    """Root of every error the pipeline raises on purpose."""

    http_status: int = 500
    retryable: bool = False
    code: str = "internal"
    #: Seconds a client should wait before retrying a retryable error (``Retry-After``).
    retry_after_seconds: int = 1

    def __init__(self, message: str, *, public_message: str | None = None) -> None:
        super().__init__(message)
        self.public_message = public_message if public_message is not None else message


class ConfigurationError(PipelineError, ValueError):
    """Settings or capabilities are wrong; the process must not start."""

    code = "configuration"


# --- input the client sent -------------------------------------------------------------


class InputError(PipelineError, ValueError):
    """The client's input is unacceptable; retrying the same input cannot help."""

    http_status = 400
    code = "bad_request"


class UploadTooLarge(InputError):
    http_status = 413
    code = "too_large"


class UnsupportedMediaType(InputError):
    http_status = 415
    code = "unsupported_type"


class EmptyUpload(InputError):
    http_status = 400
    code = "empty"


class ImageRejected(InputError):
    """Readable type, but the image breaks a limit or cannot be decoded."""

    http_status = 422
    code = "rejected"


class ImageTooLarge(ImageRejected):
    code = "too_many_pixels"


class TooManyFrames(ImageRejected):
    code = "too_many_frames"


class UndecodableImage(ImageRejected):
    code = "undecodable"


class TooManyScans(ImageRejected):
    """A progressive JPEG with more scans than any encoder writes: each costs a full decode pass."""

    code = "too_many_scans"


class RenderTimeout(ImageRejected, TimeoutError):
    """The render deadline passed; the same input would take as long again."""

    code = "render_timeout"


class VideoTooLong(ImageRejected):
    """A video longer than ``max_video_seconds``."""

    code = "too_long"


class TooManyStreams(ImageRejected):
    """A video with more audio and video streams than ``max_video_streams``."""

    code = "too_many_streams"


class RenderOutOfMemory(ImageRejected, MemoryError):
    """The render went over its memory limit (``GALLERY_WORKER_RENDER_MEMORY_BYTES``)."""

    code = "render_memory"


class OriginalTooLarge(ImageRejected):
    """The original alone is larger than the render spool (``GALLERY_WORKER_SPOOL_BYTES``)."""

    code = "original_too_large"


# --- access ------------------------------------------------------------------------------


class Unauthorized(PipelineError, PermissionError):
    http_status = 401
    code = "unauthorized"


class Forbidden(PipelineError, PermissionError):
    """The caller is known but its key lacks the scope this request needs (``scope``)."""

    http_status = 403
    code = "forbidden"

    def __init__(self, scope: str, *, public_message: str | None = None) -> None:
        super().__init__(
            f"scope {scope} missing",
            public_message=public_message or f"this API key lacks the {scope!r} scope",
        )
        self.scope = scope


class NotFound(PipelineError, LookupError):
    http_status = 404
    code = "not_found"


# --- infrastructure: transient, retried --------------------------------------------------


class DependencyError(PipelineError, ConnectionError):
    """A backend (bus, storage, catalog) failed; the operation may succeed later."""

    http_status = 503
    retryable = True
    code = "unavailable"


class GatewayBusy(PipelineError):
    """Too many uploads in flight on this gateway process; the client should retry.

    Retryable like a dependency failure (503 + Retry-After) but not one: every backend
    is fine, this process is simply full.
    """

    http_status = 503
    retryable = True
    code = "busy"


class RenderCrashed(PipelineError):
    """The render process died (killed by the OOM killer, a crash in a decoder).

    Retryable: the machine may have been short of memory; the delivery limit bounds how often
    the same image is tried.
    """

    retryable = True
    code = "render_crashed"


class StorageError(DependencyError):
    code = "storage_unavailable"


class StorageTimeout(StorageError, TimeoutError):
    code = "storage_timeout"


class SpoolFull(DependencyError):
    """The render spool's disk budget is taken by other originals in flight; retry later."""

    code = "spool_full"


class ObjectNotFound(NotFound):
    """The object store has no object under that key."""

    code = "object_not_found"


class CatalogError(DependencyError):
    code = "catalog_unavailable"


class BusError(DependencyError):
    code = "bus_unavailable"


class SlowConsumer(PipelineError):
    """A live-event client fell too far behind; its stream ends and it resumes by id."""

    http_status = 503
    retryable = True
    code = "slow_consumer"


class Conflict(PipelineError):
    """A guarded status transition did not match: another actor got there first."""

    http_status = 409
    code = "conflict"


class AlbumExists(Conflict):
    """The tenant has an album of that name already (names are unique per tenant, compared
    in NFC, so an album can always be named by its name); ``existing_id`` is that album."""

    code = "album_exists"

    def __init__(self, name: str, existing_id: str | None) -> None:
        # None: that album went again between the refused write and the look-up.
        said = f"(id {existing_id})" if existing_id else "(deleted just now: try again)"
        super().__init__(
            f"album {name!r} exists: {existing_id}",
            public_message=f"an album named {name!r} exists already {said}",
        )
        self.existing_id = existing_id


class DuplicateImage(Conflict, Generic[RecordT]):
    """The tenant already has an image with this SHA-256; ``existing`` is that image
    (the catalog's ``ImageRecord``)."""

    code = "duplicate"

    def __init__(self, existing: RecordT, image_id: str) -> None:
        super().__init__(image_id)
        self.existing = existing


class UploadTimedOut(InputError, TimeoutError):
    """The body did not arrive within the upload time limit."""

    http_status = 408
    code = "upload_timeout"


class UploadInterrupted(InputError):
    """The client stopped sending before the body was complete."""

    code = "interrupted"


class BadMessage(InputError):
    """A message that does not parse as the schema we know."""

    code = "bad_message"


# --- resumable uploads (tus 1.0, https://tus.io/protocols/resumable-upload) and limits ---


class ChecksumMismatch(InputError):
    """The PATCH body does not match its ``Upload-Checksum``; its bytes were discarded.

    460 is the status the tus checksum extension defines for it.
    """

    http_status = 460
    code = "checksum_mismatch"


class PatchTooSmall(InputError):
    """A tus PATCH under ``GALLERY_TUS_MIN_PATCH_BYTES`` that does not complete the upload."""

    code = "patch_too_small"


class UnsupportedChecksum(InputError):
    """``Upload-Checksum`` names an algorithm other than sha256, or is malformed."""

    code = "checksum_algorithm"


class UnsupportedTusVersion(InputError):
    """``Tus-Resumable`` is missing or not 1.0.0 (tus core: 412 Precondition Failed)."""

    http_status = 412
    code = "tus_version"


class OffsetMismatch(Conflict):
    """``Upload-Offset`` is not the upload's current offset (tus core: 409)."""

    code = "offset_mismatch"


class UploadLocked(PipelineError):
    """Another request is writing to this upload right now; retry after it finished."""

    http_status = 423
    retryable = True
    code = "upload_locked"


class UploadExpired(PipelineError, LookupError):
    """The upload passed its ``Upload-Expires`` and can no longer be continued."""

    http_status = 410
    code = "upload_expired"


class RateLimited(PipelineError):
    """The key sent more uploads than its rate allows; ``retry_after_seconds`` says when."""

    http_status = 429
    retryable = True
    code = "rate_limited"

    def __init__(self, message: str, *, public_message: str, retry_after_seconds: int) -> None:
        super().__init__(message, public_message=public_message)
        self.retry_after_seconds = retry_after_seconds


class ShareExhausted(RateLimited):
    """The key or tenant holds its fair share of a gateway resource (upload slots, event
    streams) already: 429, so its own excess never becomes another tenant's 503."""

    code = "share_exhausted"


class QuotaExceeded(PipelineError, PermissionError):
    """The tenant's quota (``quota`` names which: bytes or images) would be exceeded."""

    http_status = 403
    code = "quota_exceeded"

    def __init__(self, quota: str, *, public_message: str) -> None:
        super().__init__(f"quota {quota} exceeded", public_message=public_message)
        self.quota = quota


class MalformedRequest(InputError):
    """The request breaks HTTP or multipart syntax (a folded or invalid header, bad framing)."""

    code = "malformed_request"
