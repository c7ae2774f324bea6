"""Multipart uploads for the filesystem store: part files, joined on completion.

The same contract as S3's multipart API, so a resumable upload behaves alike on both
stores: ``<root>/.parts/<upload id>/`` holds one file per part, named by its number and
ETag (MD5), plus the content type. Completing joins the listed parts in order into the
object (through the store's atomic temp-and-rename); parts not listed are dropped.
Blocking functions: the store runs them in a thread.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from pipeline.domain.errors import InputError, ObjectNotFound

PARTS = ".parts"
_CONTENT_TYPE = "content-type"
_ID = re.compile(r"^[0-9a-f]{32}$")
_COPY_CHUNK = 1024 * 1024


def parts_dir(root: Path, upload_id: str) -> Path:
    if not _ID.match(upload_id):  # the id becomes a folder name: nothing else gets through
        raise InputError(f"malformed multipart upload id {upload_id!r}")
    return root / PARTS / upload_id


def create(root: Path, content_type: str) -> str:
    upload_id = uuid.uuid4().hex
    folder = parts_dir(root, upload_id)
    folder.mkdir(parents=True)
    (folder / _CONTENT_TYPE).write_text(content_type)
    return upload_id


def _existing(root: Path, upload_id: str) -> Path:
    folder = parts_dir(root, upload_id)
    if not folder.is_dir():
        raise ObjectNotFound(f"no multipart upload {upload_id}", public_message="object not found")
    return folder


def put_part(root: Path, upload_id: str, number: int, data: bytes) -> str:
    """Write part ``number`` (replacing an earlier one of that number); return its ETag."""
    folder = _existing(root, upload_id)
    etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
    for old in folder.glob(f"{number:05d}-*"):
        old.unlink(missing_ok=True)
    temp = folder / f"tmp-{uuid.uuid4().hex}"
    with temp.open("xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, folder / f"{number:05d}-{etag}")
    return etag


def content_type(root: Path, upload_id: str) -> str:
    return (_existing(root, upload_id) / _CONTENT_TYPE).read_text()


def join(root: Path, upload_id: str, parts: Sequence[tuple[int, str]], out: BinaryIO) -> str:
    """Copy ``parts`` in order into ``out``; return the MD5 of the whole. Raises InputError
    for a part that is missing or has another ETag (S3's InvalidPart)."""
    folder = _existing(root, upload_id)
    digest = hashlib.md5(usedforsecurity=False)
    for number, etag in parts:
        path = folder / f"{number:05d}-{etag.strip(chr(34))}"
        if not path.is_file():
            raise InputError(f"multipart upload {upload_id}: no part {number} with ETag {etag}")
        with path.open("rb") as part:
            while chunk := part.read(_COPY_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    return digest.hexdigest()


def remove(root: Path, upload_id: str) -> None:
    shutil.rmtree(parts_dir(root, upload_id), ignore_errors=True)
