"""Helpers for the scanner tests: feed bytes in chunks, watching the scanner's memory."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pipeline.imaging.scan import BUFFER_BOUND, HeaderScanner, ImageHeader
from pipeline.runtime.settings import LimitsSettings

CASES = Path(__file__).resolve().parents[1] / "data" / "cases"


def case(name: str) -> bytes:
    """A file from ``tests/data/cases`` (copies of the shared bad-input cases)."""
    return (CASES / name).read_bytes()


def chunks(data: bytes, size: int) -> Iterable[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def scan(data: bytes, limits: LimitsSettings, *, chunk: int = 65536) -> ImageHeader:
    """Feed ``data`` in ``chunk``-byte pieces; asserts the buffer bound after every feed."""
    scanner = HeaderScanner(limits)
    for piece in chunks(data, chunk):
        scanner.feed(piece)
        assert scanner.buffered_bytes <= BUFFER_BOUND
    return scanner.finish()
