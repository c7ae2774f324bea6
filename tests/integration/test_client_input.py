"""Odd clients of the third round of cases (issue 19), through the gateway on a real socket.

Every number a client sends goes through one parser: digits that are not ASCII (``²`` is a
digit to ``str.isdigit``, ``٣`` is one to ``int``), thousands of digits, or a value past
its field's maximum are a 400 naming the field, never a 500. A tus upload's file name is
cleaned exactly as a POST's. A ``Last-Event-ID`` the stream never reached gets a reset event,
then live events. A client that leaves the event stream is not an error.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from pipeline.domain.numbers import UINT64_MAX
from tests.conftest import SettingsFactory
from tests.images import png_bytes
from tests.integration.test_http_hygiene import Gateway, assert_json_error, open_gateway
from tests.rawhttp import RawConnection, request
from tests.sse import SseReader
from tests.waiting import eventually

pytestmark = pytest.mark.integration
TUS = {"Tus-Resumable": "1.0.0"}

# Written as the UTF-8 bytes a client sends; aiohttp hands the handler the decoded text.
NOT_NUMBERS = {
    "superscript two": "\u00b2",
    "arabic-indic three": "\u0663",
    "fullwidth seven": "\uff17",
    "five thousand digits": "9" * 5000,
    "twenty-one digits": "1" * 21,
    "signed": "+5",
    "underscored": "1_0",
}


@pytest.fixture
async def gateway(make_settings: SettingsFactory) -> AsyncIterator[Gateway]:
    async with open_gateway(make_settings()) as opened:
        yield opened


def unexpected_errors() -> float:
    value = REGISTRY.get_sample_value("gallery_unexpected_errors_total", {"component": "gateway"})
    return value or 0.0


async def send(gateway: Gateway, method: str, path: str, headers: dict[str, str]) -> object:
    """One raw request (header values sent as UTF-8 bytes, as such clients do)."""
    connection = await RawConnection.open(gateway.client.host, gateway.client.port)
    try:
        await connection.send(request(method, path, {**gateway.auth, **headers}))
        return await connection.response()
    finally:
        await connection.close()


async def new_upload(gateway: Gateway, length: int = 100) -> str:
    created = await gateway.client.post(
        "/v1/uploads", headers={**gateway.auth, **TUS, "Upload-Length": str(length)}
    )
    assert created.status == 201, await created.text()
    return created.headers["Location"]


@pytest.mark.parametrize("name", sorted(NOT_NUMBERS))
async def test_a_number_that_is_not_ascii_digits_is_a_400_naming_its_field(
    gateway: Gateway, name: str
) -> None:
    bad = NOT_NUMBERS[name]
    before = unexpected_errors()
    created = await gateway.client.post("/v1/images", data=png_bytes(30, 20), headers=gateway.auth)
    original = f"/v1/images/{(await created.json())['id']}/original"
    upload = await new_upload(gateway)
    quoted = bad.encode().hex("%", 1)
    cases = [
        ("GET", f"/v1/images?limit=%{quoted}", {}, "limit"),
        ("GET", "/v1/albums?limit=%" + quoted, {}, "limit"),
        ("GET", "/v1/events", {"Last-Event-ID": bad}, "Last-Event-ID"),
        ("POST", "/v1/uploads", {**TUS, "Upload-Length": bad}, "Upload-Length"),
        (
            "PATCH",
            upload,
            {**TUS, "Upload-Offset": bad, "Content-Type": "application/offset+octet-stream"},
            "Upload-Offset",
        ),
        ("GET", original, {"Range": f"bytes={bad}-"}, "Range"),
        ("GET", original, {"Range": f"bytes=0-{bad}"}, "Range"),
        ("GET", original, {"Range": f"bytes=-{bad}"}, "Range"),
    ]
    for method, path, headers, field in cases:
        response = await send(gateway, method, path, headers)
        error = assert_json_error(response)  # type: ignore[arg-type]
        assert field in error["message"], (method, path, field, error)
    assert unexpected_errors() == before


async def test_a_last_event_id_beyond_any_sequence_is_a_400(gateway: Gateway) -> None:
    for value in (str(UINT64_MAX + 1), "1" + "0" * 30):
        response = await send(gateway, "GET", "/v1/events", {"Last-Event-ID": value})
        error = assert_json_error(response)  # type: ignore[arg-type]
        assert "Last-Event-ID" in error["message"]


async def test_a_last_event_id_ahead_of_the_stream_gets_a_reset_then_live_events(
    gateway: Gateway,
) -> None:
    # Kept from before the stream was recreated (a restore, a new cluster, a wiped folder):
    # the stream has never reached it.
    client = gateway.client
    headers = {**gateway.auth, "Last-Event-ID": str(UINT64_MAX)}
    response = await client.get("/v1/events", headers=headers)
    assert response.status == 200
    reader = SseReader(response)
    reset = await reader.next()
    assert reset.event == "reset", reset
    assert reset.id is not None
    assert int(reset.id) < UINT64_MAX
    assert reset.data["last_id"] == reset.id
    created = await client.post("/v1/albums", json={"name": "after"}, headers=gateway.auth)
    album = (await created.json())["id"]
    live = await reader.next()
    assert live.data["album_id"] == album
    assert int(live.id or 0) > int(reset.id), "resumable from the reset's id"
    reader.close()


async def test_tus_names_are_cleaned_exactly_as_post_names(gateway: Gateway) -> None:
    names = {
        "DCIM/Camera/IMG_0042.jpg": "IMG_0042.jpg",
        "C:\\Users\\me\\IMG_0043.jpg": "IMG_0043.jpg",
        "../../x.jpg": "x.jpg",
        "a\x1b[31mred\r\nb.jpg": "a[31mredb.jpg",
        "before\\after.jpg": "before\\after.jpg",
    }
    for seed, (sent, stored) in enumerate(names.items()):
        photo = png_bytes(20, 20 + seed)
        posted = await gateway.client.post(
            "/v1/images",
            params={"filename": sent},
            data=png_bytes(21, 20 + seed),
            headers=gateway.auth,
        )
        assert (await posted.json())["filename"] == stored, sent
        metadata = "filename " + base64.b64encode(sent.encode()).decode()
        created = await gateway.client.post(
            "/v1/uploads",
            data=photo,
            headers={
                **gateway.auth,
                **TUS,
                "Upload-Length": str(len(photo)),
                "Upload-Metadata": metadata,
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert created.status == 201, await created.text()
        image_id = created.headers["Gallery-Image-Id"]
        image = await gateway.client.get(f"/v1/images/{image_id}", headers=gateway.auth)
        assert (await image.json())["filename"] == stored, sent


async def test_a_latin1_tus_name_is_decoded_as_a_post_name_is(gateway: Gateway) -> None:
    photo = png_bytes(19, 19)
    metadata = "filename " + base64.b64encode("f\u00eate.jpg".encode("latin-1")).decode()
    created = await gateway.client.post(
        "/v1/uploads",
        data=photo,
        headers={
            **gateway.auth,
            **TUS,
            "Upload-Length": str(len(photo)),
            "Upload-Metadata": metadata,
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert created.status == 201, await created.text()
    image = await gateway.client.get(
        f"/v1/images/{created.headers['Gallery-Image-Id']}", headers=gateway.auth
    )
    assert (await image.json())["filename"] == "f\u00eate.jpg"


def events_answered(status: str) -> float:
    labels = {"method": "GET", "route": "/v1/events", "status": status}
    return REGISTRY.get_sample_value("gallery_http_requests_total", labels) or 0.0


async def test_a_client_leaving_the_event_stream_is_not_an_error(gateway: Gateway) -> None:
    # The client hangs up while events keep being written: the stream ends as a hang-up
    # (499) or a finished stream (200), never a 500 or an unexpected error. (The write that
    # fails after the hang-up: tests/unit/test_events.py.)
    before = unexpected_errors()
    answered = {status: events_answered(status) for status in ("200", "499", "500")}
    connection = await RawConnection.open(gateway.client.host, gateway.client.port)
    await connection.send(request("GET", "/v1/events", gateway.auth))
    opened = await connection.response(head=True)
    assert opened.status == 200
    await connection.close()

    async def stream_ended() -> bool:
        await gateway.client.post("/v1/albums", json={"name": "an event"}, headers=gateway.auth)
        return sum(events_answered(status) for status in answered) > sum(answered.values())

    await eventually(stream_ended, "the stream of the client that left ended", timeout=30)
    assert events_answered("500") == answered["500"], "a hang-up is no 500"
    assert unexpected_errors() == before
