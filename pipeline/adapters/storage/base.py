"""What both object stores share: key checks and the chunk size.

The protocol they implement, :class:`pipeline.domain.objects.ObjectStore`, lives in the domain
so that services and adapters name the same one.

Two implementations exist: :class:`pipeline.adapters.storage.s3.S3ObjectStore` (production, any
S3-compatible server) and :class:`pipeline.adapters.storage.filesystem.FilesystemObjectStore` (the
single-machine default). Both validate keys with :func:`check_key`, so a key that works on
one works on the other.
"""

from __future__ import annotations

from pipeline.domain.errors import InputError
from pipeline.domain.objects import DEFAULT_CHUNK_SIZE, ObjectInfo, ObjectStore

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_KEY_BYTES",
    "ObjectInfo",
    "ObjectStore",
    "check_key",
    "check_prefix",
]

#: S3's own limit on key length, in UTF-8 bytes.
MAX_KEY_BYTES = 1024


def check_key(key: str) -> str:
    """Return ``key`` if it is a well-formed object key, else raise InputError.

    A key is ``/``-separated segments, none empty and none starting with ``.``: that rules
    out ``.`` and ``..`` (no escaping the filesystem store's root), absolute paths, and
    the filesystem store's own ``.tmp``/``.meta`` folders. The same rule holds for S3 so
    that both stores accept the same keys.
    """
    _check_segments(key, allow_trailing_slash=False)
    return key


def check_prefix(prefix: str) -> str:
    """Like :func:`check_key`, but the empty prefix and a trailing ``/`` are allowed."""
    if prefix:
        _check_segments(prefix, allow_trailing_slash=True)
    return prefix


def _check_segments(value: str, *, allow_trailing_slash: bool) -> None:
    if not value:
        raise InputError("object key is empty")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InputError(f"object key longer than {MAX_KEY_BYTES} bytes")
    if "\x00" in value or "\\" in value:
        raise InputError(f"object key {value!r} contains a NUL or backslash")
    segments = value.split("/")
    if allow_trailing_slash and len(segments) > 1 and segments[-1] == "":
        segments = segments[:-1]
    for segment in segments:
        if not segment or segment.startswith("."):
            raise InputError(
                f"object key {value!r}: segments must be non-empty and not start with '.'"
            )
