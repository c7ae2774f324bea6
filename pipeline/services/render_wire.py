"""The render child's wire format: plain data, never pickle.

A frame is a JSON header (UTF-8) preceded by its length (4 bytes, big-endian), followed by
the binary blobs whose sizes the header lists under ``"blobs"``. The parent trusts nothing
the child sends beyond these shapes: sizes are capped (:data:`MAX_HEADER_BYTES`,
:data:`MAX_BLOB_BYTES`), error classes must come from :mod:`pipeline.domain.errors`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from pipeline.domain import errors
from pipeline.imaging.render import RenderedRendition, RenderResult
from pipeline.imaging.spec import RenditionSpec

_LENGTH = 4
MEDIA = ("photo", "video", "motion")
MAX_HEADER_BYTES = 4 * 1024 * 1024  # EXIF metadata and a traceback fit many times over
MAX_BLOB_BYTES = 1024**3  # all renditions of one original together


class WireError(ValueError):
    """A frame that breaks the format (a child gone wrong, or a bug)."""


class _AsyncReader(Protocol):
    async def readexactly(self, n: int) -> bytes: ...


def frame(header: dict[str, Any], blobs: Sequence[bytes] = ()) -> bytes:
    """One frame: ``header`` (``"blobs"`` is set to the blobs' sizes) and the blobs."""
    data = json.dumps({**header, "blobs": [len(b) for b in blobs]}).encode()
    return b"".join([len(data).to_bytes(_LENGTH, "big"), data, *blobs])


def read_frame(stream: BinaryIO) -> tuple[dict[str, Any], list[bytes]] | None:
    """Read one frame from a blocking stream; None at end of input."""
    prefix = stream.read(_LENGTH)
    if not prefix:
        return None
    header = _header(_exact(stream, _length(prefix)))
    return header, [_exact(stream, size) for size in _sizes(header)]


async def read_frame_async(stream: _AsyncReader) -> tuple[dict[str, Any], list[bytes]]:
    """Read one frame from an asyncio stream (``IncompleteReadError`` at end of input)."""
    header = _header(await stream.readexactly(_length(await stream.readexactly(_LENGTH))))
    return header, [await stream.readexactly(size) for size in _sizes(header)]


def _length(prefix: bytes) -> int:
    size = int.from_bytes(prefix, "big")
    if size > MAX_HEADER_BYTES:
        raise WireError(f"frame header of {size} bytes (at most {MAX_HEADER_BYTES})")
    return size


def _exact(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError(f"frame cut short: {len(data)} of {size} bytes")
    return data


def _header(data: bytes) -> dict[str, Any]:
    header = json.loads(data)
    if not isinstance(header, dict):
        raise WireError("frame header is not a JSON object")
    return header


def _sizes(header: dict[str, Any]) -> list[int]:
    sizes = header.get("blobs", [])
    if not isinstance(sizes, list) or not all(isinstance(s, int) and s >= 0 for s in sizes):
        raise WireError("frame blobs must be a list of sizes")
    if sum(sizes) > MAX_BLOB_BYTES:
        raise WireError(f"frame blobs of {sum(sizes)} bytes (at most {MAX_BLOB_BYTES})")
    return sizes


# --- messages ------------------------------------------------------------------------------


def result_message(result: RenderResult) -> tuple[dict[str, Any], list[bytes]]:
    """An ``ok`` reply: the result's fields, each rendition's bytes as a blob."""
    renditions = [
        {
            "name": r.name,
            "spec_hash": r.spec_hash,
            "width": r.width,
            "height": r.height,
            "extension": r.extension,
            "content_type": r.content_type,
            "seconds": r.seconds,
            "file": r.path is not None,  # written to the file the parent named; no blob
        }
        for r in result.renditions
    ]
    header = {
        "kind": "ok",
        "width": result.width,
        "height": result.height,
        "frames": result.frames,
        "metadata": result.metadata,
        "thumbhash": result.thumbhash,
        "decode_seconds": result.decode_seconds,
        "renditions": renditions,
        "media": result.media,
    }
    return header, [r.data for r in result.renditions]


def parse_result(header: dict[str, Any], blobs: list[bytes], preview: Path) -> RenderResult:
    """The :class:`RenderResult` of an ``ok`` reply. A rendition the child wrote to a file is
    at ``preview``, the path the parent named (never a path the child names)."""
    described = header["renditions"]
    if len(described) != len(blobs):
        raise WireError(f"{len(described)} renditions but {len(blobs)} blobs")
    renditions = tuple(
        RenderedRendition(
            name=str(r["name"]),
            spec_hash=str(r["spec_hash"]),
            data=data,
            width=int(r["width"]),
            height=int(r["height"]),
            extension=str(r["extension"]),
            content_type=str(r["content_type"]),
            seconds=float(r["seconds"]),
            path=str(preview) if r.get("file") else None,
        )
        for r, data in zip(described, blobs, strict=True)
    )
    return RenderResult(
        width=int(header["width"]),
        height=int(header["height"]),
        frames=int(header["frames"]),
        metadata=dict(header["metadata"]),
        thumbhash=str(header["thumbhash"]),
        renditions=renditions,
        decode_seconds=float(header["decode_seconds"]),
        media=str(header["media"]) if header.get("media") in MEDIA else "photo",
    )


def error_message(exc: errors.PipelineError) -> dict[str, Any]:
    """An ``error`` reply for an error of the tree."""
    return {
        "kind": "error",
        "class": type(exc).__name__,
        "message": str(exc),
        "public": exc.public_message,
    }


def raise_error(header: dict[str, Any]) -> None:
    """Raise the error an ``error`` reply names (``RuntimeError`` for an unknown class)."""
    cls = getattr(errors, str(header.get("class")), None)
    message = str(header.get("message"))
    if isinstance(cls, type) and issubclass(cls, errors.PipelineError):
        raise cls(message, public_message=str(header.get("public")))
    raise RuntimeError(f"render failed in the child process: {message}")


def spec_to_wire(spec: Sequence[RenditionSpec]) -> list[dict[str, Any]]:
    return [r.model_dump() for r in spec]


def spec_from_wire(items: list[dict[str, Any]]) -> tuple[RenditionSpec, ...]:
    return tuple(RenditionSpec.model_validate(item) for item in items)
