"""Fixtures shared by the unit tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def on_disk(tmp_path: Path) -> Callable[[bytes], Path]:
    """Write bytes to a new file and return its path: originals as the spool hands them over."""
    counter = itertools.count()

    def write(data: bytes) -> Path:
        path = tmp_path / f"original-{next(counter)}"
        path.write_bytes(data)
        return path

    return write
