"""Blank names: the server and the OpenAPI document's pattern agree (see pipeline.domain.labels)."""

from __future__ import annotations

import re

import pytest

from pipeline.domain.albums import album_name
from pipeline.domain.errors import InputError
from pipeline.domain.labels import NOT_BLANK_PATTERN, trimmed

pytestmark = pytest.mark.unit

# Space to Python, to ECMA-262, or to both.
BLANKS = ["\u0085", "\u001c", "\u001f", "\ufeff", " \t", "\u3000", "\u00a0\u2028"]


@pytest.mark.parametrize("blank", BLANKS)
def test_a_name_of_only_space_is_refused_by_server_and_schema(blank: str) -> None:
    with pytest.raises(InputError):
        album_name(blank)
    # Python's \\s is a superset of ECMA's except U+FEFF, which the pattern's class lacks too.
    assert re.search(NOT_BLANK_PATTERN, blank.replace("\ufeff", "")) is None


def test_names_are_trimmed_of_either_kind_of_space() -> None:
    assert trimmed("\u0085 Holiday \ufeff") == "Holiday"
    assert album_name("  Sommer 2026\u0085") == "Sommer 2026"
