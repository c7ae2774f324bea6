"""The one number parser every query parameter and header goes through."""

from __future__ import annotations

import pytest

from gateway.conditional import ByteRange, byte_range
from pipeline.domain.errors import InputError
from pipeline.domain.numbers import MAX_DIGITS, UINT64_MAX, parse_number

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0", 0), ("7", 7), ("007", 7), ("1" * MAX_DIGITS, int("1" * MAX_DIGITS))],
)
def test_ascii_digits_are_numbers(raw: str, expected: int) -> None:
    assert parse_number(raw, "limit") == expected


@pytest.mark.parametrize(
    "raw",
    [
        "²",  # str.isdigit() is true, int() refuses it
        "٣",  # Arabic-Indic three: int() would take it
        "\uff11\uff12",  # fullwidth digits one, two
        "9" * 5000,  # past Python's int() digit cap, and past ours
        "1" * (MAX_DIGITS + 1),
        "",
        " 7",
        "7 ",
        "+7",
        "-1",
        "1_000",
        "0x10",
        "1e3",
        "7\n",
    ],
)
def test_anything_else_is_a_400_naming_the_field(raw: str) -> None:
    with pytest.raises(InputError) as info:
        parse_number(raw, "Upload-Offset")
    assert info.value.http_status == 400
    assert "Upload-Offset" in info.value.public_message


def test_none_is_refused_and_the_maximum_holds() -> None:
    with pytest.raises(InputError, match="Upload-Length"):
        parse_number(None, "Upload-Length")
    assert parse_number(str(UINT64_MAX), "Last-Event-ID") == UINT64_MAX
    with pytest.raises(InputError, match="Last-Event-ID"):
        parse_number(str(UINT64_MAX + 1), "Last-Event-ID")
    with pytest.raises(InputError) as info:
        parse_number("11", "limit", maximum=10)
    assert info.value.public_message == "limit must be at most 10"


@pytest.mark.parametrize(
    "header", ["bytes=²-", "bytes=0-²", "bytes=-٣", "bytes=" + "9" * 5000 + "-"]
)
def test_a_range_position_that_is_not_a_number_is_a_400_naming_range(header: str) -> None:
    with pytest.raises(InputError) as info:
        byte_range(header, 1000)
    assert "Range" in info.value.public_message


def test_ranges_of_ascii_digits_still_work() -> None:
    assert byte_range("bytes=0-9", 1000) == ByteRange(0, 10, 1000)
    assert byte_range("bytes=0-1,5-6", 1000) is None  # several ranges: ignored, as before
