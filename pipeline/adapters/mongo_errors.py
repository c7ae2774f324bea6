"""Driver errors of the catalog's collections, translated into the pipeline's error tree."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pymongo.errors import DuplicateKeyError, PyMongoError

from pipeline.domain.errors import CatalogError


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn driver errors into CatalogError (retryable) saying what we were doing.

    DuplicateKeyError passes through: callers turn it into a domain answer (a duplicate).
    """
    try:
        yield
    except DuplicateKeyError:
        raise
    except PyMongoError as exc:
        raise CatalogError(f"catalog: cannot {action}: {exc}") from exc
