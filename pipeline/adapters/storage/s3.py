"""The S3 object store: any S3-compatible server (SeaweedFS, Garage, MinIO, AWS) via aioboto3.

One aiobotocore client (one connection pool) lives as long as the store; open it with
``async with S3ObjectStore(settings.s3) as store``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Iterator, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from pipeline.adapters.storage.base import DEFAULT_CHUNK_SIZE, ObjectInfo, check_key, check_prefix
from pipeline.adapters.storage.s3errors import client_error_code, client_error_status, translate
from pipeline.domain.errors import (
    ConfigurationError,
    InputError,
    ObjectNotFound,
    PipelineError,
    StorageError,
)
from pipeline.domain.objects import StoredObject
from pipeline.runtime.settings import S3Settings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

log = logging.getLogger(__name__)

# Connecting to an in-cluster S3 service takes milliseconds; 5 s means it is down.
CONNECT_TIMEOUT_SECONDS = 5.0
# A read timeout bounds the wait for each socket read, not a whole transfer, so a 60 s
# value only fires on a stalled server, never on a large object.
READ_TIMEOUT_SECONDS = 60.0
# S3 caps DeleteObjects at 1000 keys a request.
DELETE_BATCH = 1000
_CHECK_PREFIX = ".gallery-check/"
# Exceptions that mean "the backend failed"; anything else is a bug and propagates as is.
_BACKEND_ERRORS = (BotoCoreError, ClientError, aiohttp.ClientError, OSError)


class S3ObjectStore:
    """An :class:`~pipeline.adapters.storage.base.ObjectStore` over S3."""

    def __init__(
        self,
        settings: S3Settings,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        read_timeout: float = READ_TIMEOUT_SECONDS,
    ) -> None:
        self._settings = settings
        self._bucket = settings.bucket
        self._config = AioConfig(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # "standard" mode: exponential backoff with jitter on 5xx, throttling and
            # connection errors, and a client-side retry quota so an outage does not
            # multiply the load. total_max_attempts counts the first try; botocore's
            # max_attempts would count only the retries (4 meant 5 tries).
            retries={"total_max_attempts": settings.max_attempts, "mode": "standard"},
            # MinIO, SeaweedFS and Garage serve buckets by path, not by virtual host.
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            # botocore >= 1.36 adds CRC checksums to every upload by default; several
            # S3-compatible servers reject or mishandle them, so only send them where the
            # API requires one (DeleteObjects).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: S3Client | None = None
        self._presigner: S3Client | None = None

    async def __aenter__(self) -> Self:
        stack = contextlib.AsyncExitStack()
        session: Any = aioboto3.Session()
        endpoint = self._settings.endpoint
        try:
            self._client = await stack.enter_async_context(self._new_client(session, endpoint))
            # Presigned URLs are signed for the host in them, so they are built by a client
            # on the address browsers reach (the in-cluster endpoint is not); it never
            # connects anywhere: presigning is local computation.
            endpoint = self._settings.public_endpoint or endpoint
            self._presigner = await stack.enter_async_context(self._new_client(session, endpoint))
        except ValueError as exc:  # a malformed endpoint URL
            await stack.aclose()
            raise ConfigurationError(f"invalid S3 endpoint {endpoint!r}: {exc}") from exc
        self._stack = stack
        return self

    def _new_client(self, session: Any, endpoint: str) -> Any:
        return session.client(
            "s3",
            endpoint_url=endpoint,
            region_name=self._settings.region,
            # Empty keys fall back to botocore's chain (env, web identity ...).
            aws_access_key_id=self._settings.access_key_id or None,
            aws_secret_access_key=self._settings.secret_access_key or None,
            config=self._config,
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack, self._client, self._presigner = self._stack, None, None, None
        if stack is not None:
            await stack.aclose()

    @property
    def _s3(self) -> S3Client:
        if self._client is None:
            raise RuntimeError("S3ObjectStore used outside its 'async with' block")
        return self._client

    @contextlib.contextmanager
    def _errors(self, action: str, key: str = "") -> Iterator[None]:
        try:
            yield
        except PipelineError:
            raise
        except _BACKEND_ERRORS as exc:
            raise translate(exc, action=action, bucket=self._bucket, key=key) from exc

    # --- the protocol ------------------------------------------------------------------

    async def check(self) -> None:
        """head_bucket (creating the bucket if configured to), then a write probe."""
        where = f"S3 bucket {self._bucket!r} at {self._settings.endpoint}"
        try:
            await self._s3.head_bucket(Bucket=self._bucket)
        except ClientError as exc:
            status = client_error_status(exc)
            if status == 404 or client_error_code(exc) in {"NoSuchBucket", "NotFound"}:
                if not self._settings.create_bucket:
                    raise ConfigurationError(
                        f"{where} does not exist: create it, or set "
                        "GALLERY_S3_CREATE_BUCKET=true to let the pipeline create it"
                    ) from exc
                await self._create_bucket()
            elif status == 403:
                raise ConfigurationError(
                    f"access to {where} denied: check GALLERY_S3_ACCESS_KEY_ID and "
                    "GALLERY_S3_SECRET_ACCESS_KEY"
                ) from exc
            else:
                raise translate(exc, action="head_bucket", bucket=self._bucket) from exc
        except _BACKEND_ERRORS as exc:
            raise translate(exc, action="head_bucket", bucket=self._bucket) from exc
        probe = f"{_CHECK_PREFIX}{uuid.uuid4().hex}"
        try:
            await self._s3.put_object(Bucket=self._bucket, Key=probe, Body=b"")
            await self._s3.delete_object(Bucket=self._bucket, Key=probe)
        except ClientError as exc:
            if client_error_status(exc) == 403:
                raise ConfigurationError(f"{where} is not writable with these credentials") from exc
            raise translate(exc, action="write probe", bucket=self._bucket, key=probe) from exc
        except _BACKEND_ERRORS as exc:
            raise translate(exc, action="write probe", bucket=self._bucket, key=probe) from exc

    async def _create_bucket(self) -> None:
        kwargs: dict[str, Any] = {}
        if self._settings.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self._settings.region}
        try:
            await self._s3.create_bucket(Bucket=self._bucket, **kwargs)
            log.info("created S3 bucket %s", self._bucket)
        except ClientError as exc:
            # Another replica starting at the same moment may have won the race.
            if client_error_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise translate(exc, action="create_bucket", bucket=self._bucket) from exc
        except _BACKEND_ERRORS as exc:
            raise translate(exc, action="create_bucket", bucket=self._bucket) from exc

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> int:
        """Buffer up to ``part_bytes``, then upload part by part; one PUT for small bodies."""
        check_key(key)
        part_bytes = self._settings.part_bytes
        # Chunks are written into a BytesIO that becomes the request body as it is: no
        # copy, and aiohttp streams a file-like body instead of warning about a large
        # bytes body blocking the loop.
        buffer = io.BytesIO()
        total = 0
        upload_id: str | None = None
        parts: list[CompletedPartTypeDef] = []
        try:
            async for chunk in chunks:
                buffer.write(chunk)
                total += len(chunk)
                if buffer.tell() >= part_bytes:
                    if upload_id is None:
                        upload_id = await self._create_upload(key, content_type)
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, buffer))
                    # Dropping the only reference frees the part before the next one fills:
                    # at most about one part is in memory.
                    buffer = io.BytesIO()
            if upload_id is None:
                buffer.seek(0)
                with self._errors("put_object", key):
                    await self._s3.put_object(
                        Bucket=self._bucket, Key=key, Body=buffer, ContentType=content_type
                    )
                return total
            if buffer.tell():
                parts.append(await self._upload_part(key, upload_id, len(parts) + 1, buffer))
            with self._errors("complete_multipart_upload", key):
                await self._s3.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            if upload_id is not None:
                await self._abort_upload(key, upload_id)
            raise
        return total

    async def _create_upload(self, key: str, content_type: str) -> str:
        with self._errors("create_multipart_upload", key):
            response = await self._s3.create_multipart_upload(
                Bucket=self._bucket, Key=key, ContentType=content_type
            )
        return response["UploadId"]

    async def _upload_part(
        self, key: str, upload_id: str, number: int, body: io.BytesIO
    ) -> CompletedPartTypeDef:
        body.seek(0)
        with self._errors("upload_part", key):
            response = await self._s3.upload_part(
                Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            )
        return {"PartNumber": number, "ETag": response["ETag"]}

    async def _abort_upload(self, key: str, upload_id: str) -> None:
        # Shielded so that a second cancellation cannot leave the upload's parts behind
        # (they would be billed and count against the bucket until a lifecycle rule ran).
        abort = self._s3.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
        try:
            await asyncio.shield(abort)
        except Exception:
            log.warning("could not abort multipart upload %s of %s", upload_id, key, exc_info=True)

    # --- multipart uploads that outlive a request (resumable uploads) ------------------

    async def create_multipart(self, key: str, *, content_type: str) -> str:
        """Start a multipart upload to ``key``; return its id (S3 CreateMultipartUpload)."""
        check_key(key)
        return await self._create_upload(key, content_type)

    async def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        """Store part ``number`` (1..10000; every part but the last at least 5 MiB); its ETag.

        Uploading a number again replaces that part (S3 UploadPart).
        """
        check_key(key)
        part = await self._upload_part(key, upload_id, number, io.BytesIO(data))
        return part["ETag"]

    async def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> None:
        """Join ``parts`` ((number, ETag) in order) into the object ``key``; parts not listed
        are dropped (S3 CompleteMultipartUpload)."""
        check_key(key)
        with self._errors("complete_multipart_upload", key):
            await self._s3.complete_multipart_upload(
                Bucket=self._bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]},
            )

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop the upload and every part stored for it; an unknown upload is not an error."""
        check_key(key)
        try:
            with self._errors("abort_multipart_upload", key):
                await self._s3.abort_multipart_upload(
                    Bucket=self._bucket, Key=key, UploadId=upload_id
                )
        except ObjectNotFound:  # NoSuchUpload: already completed or aborted
            return

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        check_key(key)
        with self._errors("put_object", key):
            await self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=io.BytesIO(data), ContentType=content_type
            )

    async def get_bytes(self, key: str) -> bytes:
        check_key(key)
        with self._errors("get_object", key):
            response = await self._s3.get_object(Bucket=self._bucket, Key=key)
            body = response["Body"]
            try:
                data: bytes = await body.read()
            finally:
                body.close()
        return data

    async def stream(
        self,
        key: str,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        *,
        start: int = 0,
        end: int | None = None,
    ) -> AsyncGenerator[bytes, None]:
        check_key(key)
        extra: dict[str, Any] = {}
        if start or end is not None:  # an HTTP Range on GetObject: last byte inclusive
            extra["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        with self._errors("get_object", key):
            response = await self._s3.get_object(Bucket=self._bucket, Key=key, **extra)
        body = response["Body"]
        try:
            while True:
                with self._errors("read", key):
                    chunk: bytes = await body.read(chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            # Closing an unfinished body drops its connection instead of returning a
            # half-read one to the pool; after a full read it is a no-op.
            body.close()

    async def stat(self, key: str) -> ObjectInfo:
        check_key(key)
        with self._errors("head_object", key):
            response = await self._s3.head_object(Bucket=self._bucket, Key=key)
        return ObjectInfo(
            key=key,
            size=response["ContentLength"],
            content_type=response.get("ContentType", "application/octet-stream"),
            etag=response.get("ETag", "").strip('"'),
        )

    async def delete(self, key: str) -> None:
        check_key(key)
        with self._errors("delete_object", key):
            await self._s3.delete_object(Bucket=self._bucket, Key=key)

    async def delete_prefix(self, prefix: str) -> int:
        if not check_prefix(prefix):
            raise InputError("refusing to delete with an empty prefix")
        # List first, then delete: deleting while paginating is not safe on every
        # S3-compatible server.
        keys = await self.list_keys(prefix)
        deleted = 0
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            with self._errors("delete_objects", prefix):
                response = await self._s3.delete_objects(
                    Bucket=self._bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                raise StorageError(
                    f"deleting {len(errors)} of {len(batch)} objects under {prefix!r} failed; "
                    f"first: {first.get('Key')}: {first.get('Code')} {first.get('Message')}",
                    public_message="object storage is unavailable",
                )
            deleted += len(batch)
        return deleted

    async def list_keys(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        keys: list[str] = []
        with self._errors("list_objects_v2", prefix):
            paginator = self._s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []) if "Key" in item)
        keys.sort()
        return keys

    async def list_objects(self, prefix: str) -> list[StoredObject]:
        check_prefix(prefix)
        listed: list[StoredObject] = []
        with self._errors("list_objects_v2", prefix):
            paginator = self._s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                listed.extend(
                    StoredObject(
                        key=item["Key"],
                        size=int(item.get("Size", 0)),
                        modified=_aware(item["LastModified"]),
                    )
                    for item in page.get("Contents", [])
                    if "Key" in item and "LastModified" in item
                )
        listed.sort(key=lambda o: o.key)
        return listed

    async def presigned_get(
        self,
        key: str,
        expires_seconds: int | None = None,
        *,
        content_type: str | None = None,
        disposition: str | None = None,
    ) -> str | None:
        check_key(key)
        expires = expires_seconds if expires_seconds is not None else self._settings.presign_seconds
        presigner = self._presigner or self._s3
        params = {"Bucket": self._bucket, "Key": key}
        # S3's response-* overrides, signed into the URL (GetObject): the type and
        # disposition a browser sees are ours, not whatever the object was stored with.
        if content_type is not None:
            params["ResponseContentType"] = content_type
        if disposition is not None:
            params["ResponseContentDisposition"] = disposition
        with self._errors("presign", key):
            return await presigner.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires
            )


def _aware(moment: datetime) -> datetime:
    """botocore parses ``LastModified`` as an aware datetime; a naive one is UTC (S3 API
    reference, ListObjectsV2: timestamps are ISO 8601 in UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
