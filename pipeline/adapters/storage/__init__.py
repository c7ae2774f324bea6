"""Object storage: one protocol, an S3 store and a filesystem store.

``gateway/`` and ``workers/`` use :func:`open_object_store` and the
:class:`~pipeline.adapters.storage.base.ObjectStore` protocol, never aioboto3 directly. Call
:meth:`~pipeline.adapters.storage.base.ObjectStore.check` once at start, before reporting ready.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from pipeline.adapters.storage.base import ObjectInfo, ObjectStore, check_key, check_prefix
from pipeline.adapters.storage.filesystem import FilesystemObjectStore
from pipeline.adapters.storage.s3 import S3ObjectStore
from pipeline.runtime.settings import Settings

__all__ = [
    "FilesystemObjectStore",
    "ObjectInfo",
    "ObjectStore",
    "S3ObjectStore",
    "check_key",
    "check_prefix",
    "open_object_store",
]


def open_object_store(settings: Settings) -> contextlib.AbstractAsyncContextManager[ObjectStore]:
    """The store ``settings.storage.backend`` names, as an async context manager.

    ``async with open_object_store(settings) as store: await store.check(); ...``
    """
    return _open(settings)


@contextlib.asynccontextmanager
async def _open(settings: Settings) -> AsyncIterator[ObjectStore]:
    if settings.storage.backend == "s3":
        async with S3ObjectStore(settings.s3) as store:
            yield store
    else:
        yield FilesystemObjectStore(settings.storage.root)
