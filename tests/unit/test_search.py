"""The timeline key, the search terms, XMP/IPTC words, and the listing through the service."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest
import pyvips

from pipeline.domain.access import Principal
from pipeline.domain.models import ImageRecord, new_image_id
from pipeline.domain.search import SEQ_SPAN, ImageFilter, taken, terms_of, time_key, words
from pipeline.imaging import xmp
from pipeline.services.images import ImageQueries
from tests.fakes import FakeAlbums, FakeCatalog, FakeObjectStore

pytestmark = pytest.mark.unit
UPLOADED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_words_fold_case_and_accents_and_split_file_names() -> None:
    assert words("IMG_0042 Étretat, PLAGE-du-Nord.JPG") == [
        "img", "0042", "etretat", "plage", "du", "nord", "jpg",
    ]  # fmt: skip


def test_terms_hold_prefixes_and_facets() -> None:
    metadata = {"title": "Sunset", "keywords": ["Beach"], "camera_make": "Canon",
                "camera_model": "EOS 5D", "lens": "EF 50mm"}  # fmt: skip
    terms = terms_of("IMG_1.jpg", metadata, "photo")
    assert {"sunset", "su", "sun", "beach", "be", "img", "jpg"} <= set(terms)
    assert {"camera:canon", "camera:ca", "camera:eos", "camera:5d", "lens:50mm"} <= set(terms)
    assert "kind:photo" in terms
    assert "s" not in terms, "a one-letter prefix would match nearly everything"


def test_a_capture_time_orders_the_timeline_and_its_absence_is_marked() -> None:
    assert taken({"capture_time": "2024-05-01T12:34:56+02:00"}, UPLOADED) == (
        datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC),
        "capture",
    )
    assert taken({}, UPLOADED) == (UPLOADED, "upload")
    assert taken({"capture_time": "0000-00-00T00:00:00"}, UPLOADED) == (UPLOADED, "upload")
    assert taken({"capture_time": "1850-01-01T00:00:00"}, UPLOADED)[1] == "upload"


def test_time_keys_sort_by_day_then_seq_and_are_unique() -> None:
    day = datetime(2024, 5, 1, tzinfo=UTC)
    assert time_key(day, 7) < time_key(day, 8) < time_key(day.replace(day=2), 1)
    assert time_key(day.replace(hour=23), 7) == time_key(day, 7)  # a day: upload order
    assert len(str(time_key(datetime(2199, 12, 31, tzinfo=UTC), SEQ_SPAN - 1))) <= 18


def test_a_filter_asks_for_every_word_and_facet() -> None:
    where = ImageFilter(q="Beach beach sun", camera="Canon EOS", kind="video")
    assert where.terms() == ["beach", "sun", "camera:canon", "camera:eos", "kind:video"]
    low, high = ImageFilter(taken_after=datetime(2024, 1, 1, tzinfo=UTC)).key_range()
    assert low == time_key(datetime(2024, 1, 1, tzinfo=UTC))
    assert high > low


def jpeg_with_words(xmp_fields: dict[str, object], iptc: dict[str, object]) -> bytes:
    import pyexiv2

    plain = pyvips.Image.black(16, 16).jpegsave_buffer()
    with pyexiv2.ImageData(plain) as image:
        if xmp_fields:
            image.modify_xmp(xmp_fields)
        if iptc:
            image.modify_iptc(iptc)
        return bytes(image.get_bytes())


def test_xmp_and_iptc_words_are_read_xmp_first() -> None:
    data = jpeg_with_words(
        {"Xmp.dc.title": {'lang="x-default"': "Sunset at Étretat"},
         "Xmp.dc.subject": ["beach", "Normandie"], "Xmp.xmp.Rating": "4"},
        {"Iptc.Application2.Keywords": ["holiday", "Beach"],
         "Iptc.Application2.ObjectName": "ignored", "Iptc.Application2.Caption": "Cliffs"},
    )  # fmt: skip
    assert xmp.describe(data) == {
        "title": "Sunset at Étretat",
        "description": "Cliffs",
        "keywords": ["beach", "Normandie", "holiday"],
        "rating": 4,
    }


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image", b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00II*\x00\xff\xff\xff\xff"],
)
def test_unreadable_metadata_is_no_metadata(data: bytes) -> None:
    assert xmp.describe(data) == {}


def test_hostile_words_are_cleaned_and_bounded() -> None:
    data = jpeg_with_words(
        {"Xmp.dc.title": {'lang="x-default"': "evil\x1b]8;;http://x\x07title\u202e"},
         "Xmp.dc.subject": [f"k{n}" for n in range(500)], "Xmp.xmp.Rating": "nan"},
        {},
    )  # fmt: skip
    found = xmp.describe(data)
    title = str(found["title"])
    assert title.startswith("evil")
    assert not [c for c in title if unicodedata.category(c) in {"Cc", "Cf"}], title
    assert len(found["keywords"]) == xmp.MAX_KEYWORDS  # type: ignore[arg-type]
    assert "rating" not in found


def record(n: int, **metadata: object) -> ImageRecord:
    image_id = new_image_id()
    return ImageRecord(
        id=image_id, tenant="t", status="ready", sha256=f"{n:064d}", content_type="image/jpeg",
        bytes=1, width=1, height=1, original_key=f"o/{image_id}", filename=f"IMG_{n}.jpg",
        metadata=metadata, created_at=UPLOADED,
    )  # fmt: skip


async def test_the_service_pages_the_timeline_and_the_search() -> None:
    catalog = FakeCatalog()
    queries = ImageQueries(catalog, FakeAlbums(catalog), FakeObjectStore())
    old = record(1, capture_time="2001-01-01T00:00:00", camera_make="Canon")
    undated = record(2, keywords=["beach"])
    new = record(3, capture_time="2020-06-01T10:00:00", keywords=["Beach"], camera_make="Nikon")
    for r in (old, undated, new):
        await catalog.insert_image(r)
    who = Principal.key("t", "hash")
    first = await queries.page(who, limit=2, order="taken")
    assert [r.id for r in first.items] == [undated.id, new.id]  # uploaded 2026: latest
    assert first.next_cursor is not None
    rest = await queries.page(who, limit=2, order="taken", before=int(first.next_cursor))
    assert [r.id for r in rest.items] == [old.id]
    assert rest.next_cursor is None
    beach = await queries.page(who, limit=10, where=ImageFilter(q="bea"))
    assert {r.id for r in beach.items} == {undated.id, new.id}
    canon = await queries.page(who, limit=10, where=ImageFilter(camera="canon"))
    assert [r.id for r in canon.items] == [old.id]
    dated = ImageFilter(taken_after=datetime(2010, 1, 1, tzinfo=UTC),
                        taken_before=datetime(2021, 1, 1, tzinfo=UTC))  # fmt: skip
    assert [r.id for r in (await queries.page(who, limit=10, where=dated)).items] == [new.id]
