"""The filesystem object store: the single-machine default, same interface as S3.

Layout under the root: ``<root>/<key>`` holds the bytes, ``<root>/.meta/<key>.json`` the
content type and ETag, ``<root>/.tmp/`` uploads in progress, ``<root>/.parts/`` the parts
of multipart uploads (:mod:`~pipeline.adapters.storage.fsparts`). Keys cannot have segments
starting with ``.`` (see :func:`~pipeline.adapters.storage.base.check_key`), so neither folder can
collide with an object and no key can climb out of the root.

Writes go to a temp file that is fsynced and then renamed over the target with
``os.replace``, so a reader sees the old object or the new one, never half of one. File I/O
runs in worker threads (``asyncio.to_thread``) so the event loop never blocks on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, ParamSpec, TypeVar

from pipeline.adapters.storage import fsparts
from pipeline.adapters.storage.base import DEFAULT_CHUNK_SIZE, ObjectInfo, check_key, check_prefix
from pipeline.domain.errors import (
    ConfigurationError,
    InputError,
    ObjectNotFound,
    PipelineError,
    StorageError,
)
from pipeline.domain.objects import StoredObject

_META = ".meta"
_TMP = ".tmp"
# Small chunks from the network are gathered into 1 MiB writes: one thread hop per chunk
# of 64 KiB would cost more than the write itself.
_WRITE_BUFFER = 1024 * 1024
_DEFAULT_TYPE = "application/octet-stream"
_PUBLIC_MESSAGE = "object storage is unavailable"
_P = ParamSpec("_P")
_T = TypeVar("_T")


class FilesystemObjectStore:
    """An :class:`~pipeline.adapters.storage.base.ObjectStore` over a local folder."""

    def __init__(self, root: Path) -> None:
        self._root = root.expanduser().resolve()

    @property
    def root(self) -> Path:
        return self._root

    def _path(self, key: str) -> Path:
        # check_key refuses empty, '.' and '..' segments, so a relative key joined to the
        # root stays under it (symlinks planted inside the root are the operator's business).
        return self._root / check_key(key)

    def _meta_path(self, key: str) -> Path:
        return self._root / _META / f"{key}.json"

    # --- the protocol ------------------------------------------------------------------

    async def check(self) -> None:
        """Create the root if needed and prove it is writable."""
        await asyncio.to_thread(self._check_sync)

    def _check_sync(self) -> None:
        probe = self._root / _TMP / f"check-{uuid.uuid4().hex}"
        try:
            probe.parent.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ConfigurationError(
                f"object store root {str(self._root)!r} is not a writable folder "
                f"(GALLERY_STORAGE_ROOT): {exc.strerror or exc}"
            ) from exc

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> int:
        check_key(key)
        handle, temp = await _io(self._open_temp)
        total = 0
        pending = bytearray()
        try:
            async for chunk in chunks:
                pending += chunk
                if len(pending) >= _WRITE_BUFFER:
                    data, pending = pending, bytearray()
                    total += len(data)
                    await _io(handle.write, data)
            total += len(pending)
            # No ETag yet: stat computes it on first use (see _etag_sync).
            await _io(
                self._finish, handle, temp, bytes(pending), key=key, content_type=content_type
            )
        except BaseException:
            # Synchronous on purpose: this also runs when the task is being cancelled, and
            # closing plus unlinking one file is quick.
            handle.close()
            temp.unlink(missing_ok=True)
            raise
        return total

    # --- multipart uploads (see fsparts): the same contract as S3's -------------------

    async def create_multipart(self, key: str, *, content_type: str) -> str:
        check_key(key)
        return await _io(fsparts.create, self._root, content_type)

    async def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        check_key(key)
        return await _io(fsparts.put_part, self._root, upload_id, number, data)

    async def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> None:
        check_key(key)
        await _io(self._complete_sync, key, upload_id, parts)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        check_key(key)
        await _io(fsparts.remove, self._root, upload_id)

    def _complete_sync(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> None:
        kind = fsparts.content_type(self._root, upload_id)
        handle, temp = self._open_temp()
        try:
            etag = fsparts.join(self._root, upload_id, parts, handle)
            self._finish(handle, temp, b"", key=key, content_type=kind, etag=etag)
        except BaseException:
            handle.close()
            temp.unlink(missing_ok=True)
            raise
        fsparts.remove(self._root, upload_id)

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        check_key(key)
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()

        def write() -> None:
            handle, temp = self._open_temp()
            try:
                self._finish(handle, temp, data, key=key, content_type=content_type, etag=etag)
            except BaseException:
                handle.close()
                temp.unlink(missing_ok=True)
                raise

        await _io(write)

    async def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        return await _io(self._read_file, path, key)

    async def stream(
        self,
        key: str,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        *,
        start: int = 0,
        end: int | None = None,
    ) -> AsyncGenerator[bytes, None]:
        path = self._path(key)
        handle = await _io(self._open_read, path, key)
        try:
            if start:
                await _io(handle.seek, start)
            left = None if end is None else max(end - start, 0)
            while left is None or left > 0:
                size = chunk_size if left is None else min(chunk_size, left)
                chunk = await _io(handle.read, size)
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        return await _io(self._stat_sync, path, key)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await _io(self._delete_sync, path, key)

    async def delete_prefix(self, prefix: str) -> int:
        if not check_prefix(prefix):
            raise InputError("refusing to delete with an empty prefix")
        keys = await self.list_keys(prefix)

        def delete_all() -> None:
            for key in keys:
                self._delete_sync(self._root / key, key)

        await _io(delete_all)
        return len(keys)

    async def list_keys(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        return await _io(self._list_sync, prefix)

    async def list_objects(self, prefix: str) -> list[StoredObject]:
        check_prefix(prefix)
        return await _io(self._list_objects_sync, prefix)

    async def presigned_get(
        self,
        key: str,
        expires_seconds: int | None = None,
        *,
        content_type: str | None = None,
        disposition: str | None = None,
    ) -> str | None:
        """Always ``None``: there is no URL to hand out; the gateway streams the object."""
        check_key(key)
        return None

    # --- blocking helpers, run in threads ------------------------------------------------

    def _open_temp(self) -> tuple[BinaryIO, Path]:
        temp = self._root / _TMP / uuid.uuid4().hex
        temp.parent.mkdir(parents=True, exist_ok=True)
        return temp.open("xb"), temp

    def _finish(
        self,
        handle: BinaryIO,
        temp: Path,
        tail: bytes,
        *,
        key: str,
        content_type: str,
        etag: str | None = None,
    ) -> None:
        """Write the last bytes, make them durable, and move data and metadata in place."""
        try:
            handle.write(tail)
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            handle.close()
        self._replace(temp, self._root / key, key)
        meta: dict[str, object] = {"content_type": content_type}
        if etag is not None:
            meta["etag"] = etag
        self._write_meta(key, meta)

    def _write_meta(self, key: str, meta: dict[str, object]) -> None:
        meta_handle, meta_temp = self._open_temp()
        try:
            with meta_handle:
                meta_handle.write(json.dumps(meta).encode())
            self._replace(meta_temp, self._meta_path(key), key)
        except BaseException:
            meta_temp.unlink(missing_ok=True)
            raise

    def _etag_sync(self, path: Path, key: str, meta: dict[str, object]) -> str:
        """The stored ETag, or the MD5 of the object computed now and kept in its metadata.

        Streamed uploads skip the MD5 (~1.3 ms of CPU per MB on the gateway's critical
        path); the first ``stat`` pays it once. The file's mtime is stored with a computed
        ETag, so one computed for an older version of the object is never trusted.
        """
        mtime = path.stat().st_mtime_ns
        if "etag" in meta and meta.get("etag_mtime_ns", mtime) == mtime:
            return str(meta["etag"])
        digest = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as handle:
            while block := handle.read(_WRITE_BUFFER):
                digest.update(block)
        etag = digest.hexdigest()
        with contextlib.suppress(OSError, InputError, StorageError):
            if path.stat().st_mtime_ns == mtime:  # not replaced meanwhile
                self._write_meta(key, {**meta, "etag": etag, "etag_mtime_ns": mtime})
        return etag

    def _replace(self, source: Path, target: Path, key: str) -> None:
        # A concurrent delete may prune the (then empty) parent folder between mkdir and
        # replace; try again a few times rather than fail the write.
        for _ in range(5):
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)
                return
            except FileNotFoundError:
                if not source.exists():
                    raise
            except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
                # S3 allows both "a" and "a/b"; a folder tree cannot.
                raise InputError(
                    f"object key {key!r} conflicts with an existing key in the filesystem store"
                ) from exc
        raise StorageError(f"could not move {key!r} into place", public_message=_PUBLIC_MESSAGE)

    @staticmethod
    def _read_file(path: Path, key: str) -> bytes:
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"no object {key!r}", public_message="object not found") from exc

    @staticmethod
    def _open_read(path: Path, key: str) -> BinaryIO:
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"no object {key!r}", public_message="object not found") from exc

    def _stat_sync(self, path: Path, key: str) -> ObjectInfo:
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise FileNotFoundError(path)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"no object {key!r}", public_message="object not found") from exc
        try:
            meta = json.loads(self._meta_path(key).read_bytes())
        except (FileNotFoundError, NotADirectoryError, ValueError):
            meta = {}
        try:
            etag = self._etag_sync(path, key, meta)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"no object {key!r}", public_message="object not found") from exc
        return ObjectInfo(
            key=key,
            size=size,
            content_type=str(meta.get("content_type", _DEFAULT_TYPE)),
            etag=etag,
        )

    def _delete_sync(self, path: Path, key: str) -> None:
        meta = self._meta_path(key)
        for file in (path, meta):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
                file.unlink()
        # Remove folders the delete left empty, so the tree does not grow forever.
        self._prune(path.parent, self._root)
        self._prune(meta.parent, self._root / _META)

    @staticmethod
    def _prune(folder: Path, stop: Path) -> None:
        while folder != stop and folder.is_relative_to(stop):
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone): stop climbing
                return
            folder = folder.parent

    def _list_objects_sync(self, prefix: str) -> list[StoredObject]:
        listed: list[StoredObject] = []
        for key in self._list_sync(prefix):
            try:
                stat = self._path(key).stat()
            except FileNotFoundError:  # deleted since the walk saw it
                continue
            modified = datetime.fromtimestamp(stat.st_mtime, UTC)
            listed.append(StoredObject(key=key, size=stat.st_size, modified=modified))
        return listed

    def _list_sync(self, prefix: str) -> list[str]:
        head = prefix.rpartition("/")[0]
        keys: list[str] = []
        for folder, dirnames, filenames in os.walk(self._root / head if head else self._root):
            relative = Path(folder).relative_to(self._root).as_posix()
            base = "" if relative == "." else f"{relative}/"
            # Skip .meta/.tmp and any folder that cannot hold a match.
            dirnames[:] = sorted(
                name
                for name in dirnames
                if not name.startswith(".") and _may_hold(f"{base}{name}/", prefix)
            )
            keys.extend(
                f"{base}{name}"
                for name in filenames
                if not name.startswith(".") and f"{base}{name}".startswith(prefix)
            )
        keys.sort()
        return keys


def _may_hold(folder_key: str, prefix: str) -> bool:
    return folder_key.startswith(prefix) or prefix.startswith(folder_key)


async def _io(func: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run blocking file I/O in a thread; an unexpected OSError is a StorageError."""
    try:
        return await asyncio.to_thread(func, *args, **kwargs)
    except PipelineError:
        raise
    except OSError as exc:
        raise StorageError(
            f"filesystem object store: {exc}", public_message=_PUBLIC_MESSAGE
        ) from exc
