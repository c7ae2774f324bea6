"""Map botocore and aiohttp failures onto the pipeline's error tree.

Callers never see botocore exceptions: a missing object is
:class:`~pipeline.domain.errors.ObjectNotFound`, a slow server
:class:`~pipeline.domain.errors.StorageTimeout`, anything else
:class:`~pipeline.domain.errors.StorageError` (retryable unless the server said the request
itself was wrong).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from pipeline.domain.errors import (
    ConfigurationError,
    ObjectNotFound,
    PipelineError,
    StorageError,
    StorageTimeout,
)

PUBLIC_MESSAGE = "object storage is unavailable"
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchUpload", "NotFound", "404"})
_THROTTLING_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests"}
)


def client_error_code(exc: ClientError) -> str:
    response: dict[str, Any] = exc.response
    return str(response.get("Error", {}).get("Code", ""))


def client_error_status(exc: ClientError) -> int:
    response: dict[str, Any] = exc.response
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def translate(exc: BaseException, *, action: str, bucket: str, key: str = "") -> PipelineError:
    """The pipeline error for ``exc``, raised by ``action`` on ``bucket``/``key``."""
    where = f"s3://{bucket}/{key}" if key else f"s3://{bucket}"
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError | TimeoutError):
        return StorageTimeout(f"{action} {where}: {exc}", public_message=PUBLIC_MESSAGE)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ConfigurationError(f"{action} {where}: no usable S3 credentials: {exc}")
    if isinstance(exc, ClientError):
        code = client_error_code(exc)
        status = client_error_status(exc)
        if code in _NOT_FOUND_CODES or (status == 404 and code != "NoSuchBucket"):
            return ObjectNotFound(f"no object {where}", public_message="object not found")
        error = StorageError(
            f"{action} {where}: {code} ({status}): {exc}", public_message=PUBLIC_MESSAGE
        )
        # 5xx and throttling may pass; any other 4xx (access denied, missing bucket, bad
        # request) will fail the same way next time.
        error.retryable = status >= 500 or status == 429 or code in _THROTTLING_CODES
        return error
    return StorageError(f"{action} {where}: {exc}", public_message=PUBLIC_MESSAGE)
