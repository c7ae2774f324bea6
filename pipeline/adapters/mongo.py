"""What every catalog collection shares: the document type and the driver-error translation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from pymongo.errors import DuplicateKeyError, PyMongoError

from pipeline.domain.errors import CatalogError

Document = dict[str, Any]


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn driver errors into CatalogError (retryable) with what we were doing."""
    try:
        yield
    except DuplicateKeyError:
        raise
    except PyMongoError as exc:
        raise CatalogError(f"catalog: cannot {action}: {exc}") from exc
