"""The small HTTP rules: entity-tag comparison, byte ranges, file names in any encoding."""

from __future__ import annotations

import pytest

from gateway.conditional import ByteRange, Unsatisfiable, byte_range, if_range_allows, none_match
from gateway.forms import disposition_params, part_filename
from pipeline.domain.filenames import clean_filename

pytestmark = pytest.mark.unit

ETAG = '"abc123"'


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ('"abc123"', True),
        ('W/"abc123"', True),  # weak comparison (RFC 9110 13.1.2): what proxies send
        ('"zzz", W/"abc123"', True),  # a list
        ('"zzz" ,"abc123"', True),
        ("*", True),
        ('"abc12"', False),
        ('"zzz", "yyy"', False),
        ("abc123", False),  # not an entity tag
        ("", False),
        (None, False),
    ],
)
def test_if_none_match_uses_the_weak_comparison(header: str | None, matches: bool) -> None:
    assert none_match(header, ETAG) is matches


def test_if_range_needs_a_strong_match() -> None:
    assert if_range_allows(None, ETAG)
    assert if_range_allows('"abc123"', ETAG)
    assert not if_range_allows('W/"abc123"', ETAG)
    assert not if_range_allows('"other"', ETAG)
    assert not if_range_allows("Wed, 21 Oct 2015 07:28:00 GMT", ETAG)  # we send no dates


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", ByteRange(0, 100, 1000)),
        ("bytes=900-", ByteRange(900, 1000, 1000)),
        ("bytes=-100", ByteRange(900, 1000, 1000)),
        ("bytes=-5000", ByteRange(0, 1000, 1000)),  # a suffix longer than the object: all
        ("bytes=990-2000", ByteRange(990, 1000, 1000)),  # the end is clipped
        ("BYTES = 1 - 1", ByteRange(1, 2, 1000)),
        ("bytes=5-3", None),  # invalid: ignored, the whole object
        ("bytes=0-1,5-6", None),  # several ranges: we send the whole object
        ("items=0-1", None),
        ("bytes=-", None),
        (None, None),
    ],
)
def test_byte_ranges(header: str | None, expected: ByteRange | None) -> None:
    assert byte_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_a_range_past_the_end_is_unsatisfiable(header: str) -> None:
    with pytest.raises(Unsatisfiable):
        byte_range(header, 1000)


def test_content_range() -> None:
    assert ByteRange(0, 100, 1000).content_range == "bytes 0-99/1000"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("IMG_0042.jpg", "IMG_0042.jpg"),
        ("before\\after.jpg", "before\\after.jpg"),  # a backslash is part of the name
        ("C:\\Users\\me\\IMG 1.jpg", "IMG 1.jpg"),  # a Windows path: only the name
        ("\\\\server\\share\\a.jpg", "a.jpg"),
        ("../../etc/passwd", "passwd"),
        ("dir/sub/x.png", "x.png"),
        ("a\x00b\x1f\x7f.jpg", "ab.jpg"),  # control characters go
        ("tab\there.jpg", "tabhere.jpg"),
        ("ünïcödé 写真.jpg", "ünïcödé 写真.jpg"),
        ('quote".jpg', 'quote".jpg'),
        (b"f\xe9te \xb5.jpg", "féte µ.jpg"),  # raw Latin-1 bytes
        ("f\udce9te.jpg", "féte.jpg"),  # the same, as aiohttp hands them (surrogateescape)
        ("caf\u00e9.jpg".encode(), "café.jpg"),
        ("\ud800x.jpg", "?x.jpg"),  # a lone surrogate no decoder made: replaced
        ("..", None),
        ("dir/", None),
        ("", None),
        (None, None),
    ],
)
def test_clean_filename(raw: str | bytes | None, expected: str | None) -> None:
    assert clean_filename(raw) == expected


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('form-data; name="file"; filename="a.jpg"', "a.jpg"),
        ('form-data; name="file"; filename="before\\after.jpg"', "before\\after.jpg"),
        ('form-data; name="file"; filename="say \\"hi\\".jpg"', 'say "hi".jpg'),
        ('form-data; name="file"; filename="say %22hi%22.jpg"', 'say "hi".jpg'),  # WHATWG
        ("form-data; name=file; filename=plain.jpg", "plain.jpg"),
        ("form-data; name=\"file\"; filename*=UTF-8''dir%2Fcaf%C3%A9.jpg", "café.jpg"),
        ("form-data; name=\"file\"; filename*=iso-8859-1''f%E9te.jpg", "féte.jpg"),
        ("form-data; filename=\"old.jpg\"; filename*=UTF-8''new%20one.jpg", "new one.jpg"),
        ('form-data; name="file"; filename=""', ""),  # a file part without a name
        ('form-data; name="file"; filename="../.."', ""),
        ('form-data; name="title"', None),  # a plain field
    ],
)
def test_part_filename(disposition: str, expected: str | None) -> None:
    assert part_filename(disposition) == expected


def test_disposition_params_keep_the_first_of_a_repeated_name() -> None:
    params = disposition_params('form-data; NAME="a"; name="b"; x=1')
    assert params == {"name": "a", "x": "1"}
