"""HTTP hygiene through the real gateway on a real socket: malformed requests, file names,
HEAD, cursors, Expect: 100-continue, metrics of every response, a hung catalog."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web_runner import BaseRunner
from prometheus_client import REGISTRY

from gallery.servers import mongo_uri, start_secantus
from gateway.app import make_app
from gateway.appkeys import BACKENDS
from gateway.protocol import GatewayRunner
from pipeline.runtime.settings import GatewaySettings, LimitsSettings, MongoSettings, Settings
from tests.conftest import SettingsFactory
from tests.freezing import freeze, thaw
from tests.images import png_bytes
from tests.rawhttp import RawConnection, RawResponse, request
from tests.waiting import eventually

pytestmark = pytest.mark.integration
CASES = Path(__file__).resolve().parents[1] / "data" / "cases"


class GatewayTestServer(TestServer):
    """The app served as ``gallery gateway`` serves it (JSON answers to parse errors)."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return GatewayRunner(self.app, **kwargs)


class Gateway:
    def __init__(self, client: TestClient, key: str) -> None:
        self.client = client
        self.key = key
        self.auth = {"Authorization": f"Bearer {key}"}

    async def raw(self, data: bytes) -> RawResponse:
        """Send ``data`` on a new connection and read one response."""
        connection = await RawConnection.open(self.client.host, self.client.port)
        try:
            await connection.send(data)
            return await connection.response()
        finally:
            await connection.close()

    async def upload_form(self, disposition: bytes, body: bytes) -> RawResponse:
        form = (
            b"--BOUNDARY\r\n" + disposition + b"\r\nContent-Type: image/png\r\n\r\n" + body
        ) + b"\r\n--BOUNDARY--\r\n"
        headers = {**self.auth, "Content-Type": "multipart/form-data; boundary=BOUNDARY"}
        return await self.raw(request("POST", "/v1/images", headers, form))


class open_gateway:  # noqa: N801 (used like a function)
    def __init__(self, settings: Settings) -> None:
        self.client = TestClient(GatewayTestServer(make_app(settings)))

    async def __aenter__(self) -> Gateway:
        await self.client.start_server()
        key = await self.client.app[BACKENDS].catalog.create_api_key("alice")
        return Gateway(self.client, key)

    async def __aexit__(self, *_: object) -> None:
        await self.client.close()


@pytest.fixture
async def gateway(make_settings: SettingsFactory) -> AsyncIterator[Gateway]:
    async with open_gateway(make_settings()) as opened:
        yield opened


def assert_json_error(response: RawResponse, status: int = 400) -> dict[str, str]:
    assert response.status == status, (response.status, response.body[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error: dict[str, str] = response.json()["error"]
    assert error["code"]
    assert error["message"]
    return error


# --- malformed requests ----------------------------------------------------------------

MALFORMED_TOP_LEVEL = {
    "folded header": b"POST /v1/images HTTP/1.1\r\nHost: x\r\nX-Long: a\r\n b\r\n"
    b"Content-Length: 0\r\n\r\n",
    "space before colon": b"POST /v1/images HTTP/1.1\r\nHost : x\r\nContent-Length: 0\r\n\r\n",
    "line without colon": b"POST /v1/images HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
    "NUL in a header": b"GET /v1/images HTTP/1.1\r\nHost: x\r\nX-N: a\x00b\r\n\r\n",
    "bad chunk size": b"POST /v1/images HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"\r\nzz\r\nabc\r\n0\r\n\r\n",
    "two lengths": b"POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Content-Length: 6\r\n\r\nabcde",
    "negative length": b"POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "unknown transfer coding": b"POST /v1/images HTTP/1.1\r\nHost: x\r\n"
    b"Transfer-Encoding: gzip\r\n\r\n",
    "bad method": b"G@T /v1/images HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad version": b"GET /v1/images HTTP/9.1\r\nHost: x\r\n\r\n",
    "control in path": b"GET /v1/\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    "header line too long": b"GET /v1/images HTTP/1.1\r\nHost: x\r\nX: "
    + b"a" * 20_000
    + b"\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(MALFORMED_TOP_LEVEL))
async def test_a_malformed_request_gets_a_json_400(gateway: Gateway, name: str) -> None:
    response = await gateway.raw(MALFORMED_TOP_LEVEL[name])
    error = assert_json_error(response)
    assert error["code"] == "malformed_request"


async def test_bad_chunked_framing_mid_body_gets_a_json_400(gateway: Gateway) -> None:
    """The framing error arrives after the handler started reading the body."""
    connection = await RawConnection.open(gateway.client.host, gateway.client.port)
    head = request("POST", "/v1/images", {**gateway.auth, "Transfer-Encoding": "chunked"})
    await connection.send(head.replace(b"Content-Length: 0\r\n", b""))
    photo = png_bytes(40, 30)
    await connection.send(f"{len(photo):x}\r\n".encode() + photo + b"\r\n")
    await connection.send(b"zz\r\nnot hex\r\n0\r\n\r\n")
    response = await connection.response()
    await connection.close()
    assert_json_error(response)
    listing = await gateway.client.get("/v1/images", headers=gateway.auth)
    assert (await listing.json())["items"] == [], "nothing kept"


PART_HEADERS = {
    "space before colon": b'Content-Disposition : form-data; name="file"; filename="a.png"',
    "line without colon": b'Content-Disposition form-data; name="file"; filename="a.png"',
    "NUL in a quoted name": b'Content-Disposition: form-data; name="file"; filename="a\x00b.png"',
    "folded": b'Content-Disposition: form-data; name="file";\r\n filename="a.png"',
}


@pytest.mark.parametrize("name", sorted(PART_HEADERS))
async def test_a_malformed_part_header_gets_a_json_400(gateway: Gateway, name: str) -> None:
    response = await gateway.upload_form(PART_HEADERS[name], png_bytes(20, 20))
    error = assert_json_error(response)
    assert error["code"] == "malformed_request"
    assert "form" in error["message"]


async def test_case_c27_folded_part_header(gateway: Gateway) -> None:
    """c27: a part header folded over two lines: a 400 saying the form is malformed."""
    body = (CASES / "c27_folded.multipart").read_bytes()
    boundary = (CASES / "c27.boundary").read_text().strip()
    headers = {**gateway.auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    error = assert_json_error(await gateway.raw(request("POST", "/v1/images", headers, body)))
    assert "malformed" in error["message"]


async def test_mutated_requests_never_get_a_5xx(make_settings: SettingsFactory) -> None:
    """Seeded fuzz: random bytes of a valid upload's head replaced; every answer < 500.

    A mutated length can leave the gateway waiting for bytes that never come: the upload
    time limit (1 s here) ends those with 408, so every request gets an answer.
    """
    settings = make_settings(limits=LimitsSettings(upload_timeout_seconds=1.0))
    async with open_gateway(settings) as gateway:
        photo = png_bytes(24, 24)
        headers = {**gateway.auth, "Content-Type": "image/png", "Connection": "close"}
        valid = request("POST", "/v1/images?filename=a.png", headers, photo)
        head_end = valid.index(b"\r\n\r\n")
        rng = random.Random(8)
        mutants = []
        for _ in range(40):
            mutated = bytearray(valid)
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(head_end)] = rng.choice(b'\x00\x01 :\r\n\t"\\;=\xe9\xff-aZ9')
            mutants.append(bytes(mutated))
        answers = await asyncio.gather(*(_send_all(gateway, m) for m in mutants))
    statuses = []
    for answer in answers:
        if answer is not None:  # a connection closed without a word (nothing parsed) is fine
            statuses.append(answer.status)
            assert answer.status < 500, answer
            assert answer.headers["content-type"].startswith("application/json"), answer
    assert len(statuses) >= 30, statuses


async def _send_all(gateway: Gateway, data: bytes) -> RawResponse | None:
    connection = await RawConnection.open(gateway.client.host, gateway.client.port)
    try:
        await connection.send(data)
        return await connection.response()
    except (ConnectionError, asyncio.IncompleteReadError):
        return None
    finally:
        await connection.close()


# --- file names ------------------------------------------------------------------------


async def test_case_c11_latin1_file_name(gateway: Gateway) -> None:
    body = (CASES / "c11_latin1_name.multipart").read_bytes()
    boundary = (CASES / "c11_latin1_name.boundary").read_text().strip()
    headers = {**gateway.auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = await gateway.raw(request("POST", "/v1/images", headers, body))
    assert response.status == 202, response.body
    assert response.json()["filename"] == "f\u00e9te \u00b5.jpg"  # decoded as Latin-1


@pytest.mark.parametrize(
    ("disposition", "stored"),
    [
        (b'form-data; name="file"; filename="before\\after.png"', "before\\after.png"),
        (b'form-data; name="file"; filename="C:\\Users\\me\\IMG 1.png"', "IMG 1.png"),
        (b'form-data; name="file"; filename="../../x.png"', "x.png"),
        (b"form-data; name=\"file\"; filename*=UTF-8''dir%2Fcaf%C3%A9.png", "caf\u00e9.png"),
        (b"form-data; name=\"file\"; filename*=UTF-8''a%01b.png", "ab.png"),
        ('form-data; name="file"; filename="\u5199\u771f.png"'.encode(), "\u5199\u771f.png"),
    ],
)
async def test_file_names_are_kept_as_sent_without_paths(
    gateway: Gateway, disposition: bytes, stored: str
) -> None:
    seed = sum(disposition)  # distinct bytes per case: no duplicate answers
    response = await gateway.upload_form(
        b"Content-Disposition: " + disposition, png_bytes(20, 20, seed=seed)
    )
    assert response.status == 202, response.body
    image = response.json()
    assert image["filename"] == stored
    fetched = await gateway.client.get(f"/v1/images/{image['id']}", headers=gateway.auth)
    assert (await fetched.json())["filename"] == stored


async def test_raw_upload_file_name_from_the_query(gateway: Gateway) -> None:
    response = await gateway.client.post(
        "/v1/images?filename=dir%2Fx%01y%5Cz.png", data=png_bytes(20, 21), headers=gateway.auth
    )
    assert response.status == 202
    assert (await response.json())["filename"] == "xy\\z.png"


# --- HEAD ------------------------------------------------------------------------------


async def test_head_answers_headers_only_and_the_connection_stays_usable(
    gateway: Gateway,
) -> None:
    photo = png_bytes(50, 40)
    created = await gateway.client.post("/v1/images", data=photo, headers=gateway.auth)
    image_id = (await created.json())["id"]
    auth = "".join(f"{k}: {v}\r\n" for k, v in gateway.auth.items())
    connection = await RawConnection.open(gateway.client.host, gateway.client.port)
    try:
        for path in [
            f"/v1/images/{image_id}/original",
            f"/v1/images/{image_id}",
            "/v1/images?limit=2",
            "/v1/events",
            "/healthz",
            "/v1/images/nope",
        ]:
            await connection.send(f"HEAD {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode())
            head = await connection.response(head=True)
            assert head.status in {200, 404}, (path, head)
            # The next request on this connection must read as a response, not as body bytes.
            await connection.send(f"GET /healthz HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode())
            after = await connection.response()
            assert after.status == 200, (path, after)
        await connection.send(
            f"HEAD /v1/images/{image_id}/original HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode()
        )
        original = await connection.response(head=True)
        assert original.headers["content-length"] == str(len(photo))
        assert original.headers["accept-ranges"] == "bytes"
    finally:
        await connection.close()


# --- cursors and limits --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("order=random", "order"),
        ("kind=audio", "kind"),
        ("taken_after=yesterday", "taken_after"),
        ("taken_before=2024-13-01", "taken_before"),
        ("taken_after=1066-10-14", "taken_after"),
        ("q=" + "a" * 201, "q"),
        ("camera=" + "a" * 201, "camera"),
        ("lens=" + "a" * 201, "lens"),
    ],
)
async def test_invalid_order_or_filter_is_a_400_naming_it(
    gateway: Gateway, query: str, named: str
) -> None:
    response = await gateway.client.get(f"/v1/images?{query}", headers=gateway.auth)
    body = await response.json()
    assert response.status == 400, body
    assert named in body["error"]["message"]


async def test_the_longest_search_is_a_setting(make_settings: SettingsFactory) -> None:
    settings = make_settings(gateway=GatewaySettings(search_max_chars=5))
    async with open_gateway(settings) as gateway:
        short = await gateway.client.get("/v1/images?q=beach", headers=gateway.auth)
        assert short.status == 200
        long = await gateway.client.get("/v1/images?q=beach2", headers=gateway.auth)
        assert long.status == 400
        assert "q is over 5 characters" in (await long.json())["error"]["message"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("cursor=zzzz", "cursor"),
        ("cursor=%00", "cursor"),
        ("cursor=" + "0" * 27, "cursor"),
        ("cursor=01ARZ3NDEKTSV4RRFFQ69G5FA%C3%A9", "cursor"),
        ("cursor=" + "Z" * 5000, "cursor"),
        ("limit=-1", "limit"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=99999999999999999999999", "limit"),
        ("limit=ten", "limit"),
        ("limit=%00", "limit"),
    ],
)
async def test_invalid_cursor_or_limit_is_a_400_naming_it(
    gateway: Gateway, query: str, named: str
) -> None:
    response = await gateway.client.get(f"/v1/images?{query}", headers=gateway.auth)
    body = await response.json()
    assert response.status == 400, body
    assert named in body["error"]["message"]


async def test_a_valid_cursor_still_pages(gateway: Gateway) -> None:
    for seed in range(3):
        await gateway.client.post(
            "/v1/images", data=png_bytes(9, 9, seed=seed), headers=gateway.auth
        )
    first = await (await gateway.client.get("/v1/images?limit=2", headers=gateway.auth)).json()
    cursor = first["next_cursor"]
    second = await gateway.client.get(f"/v1/images?limit=2&cursor={cursor}", headers=gateway.auth)
    assert second.status == 200
    assert len((await second.json())["items"]) == 1


# --- Expect: 100-continue -----------------------------------------------------------------


async def _expect(
    gateway: Gateway, headers: dict[str, str], target: str = "POST /v1/images"
) -> tuple[RawConnection, RawResponse]:
    connection = await RawConnection.open(gateway.client.host, gateway.client.port)
    lines = [f"{target} HTTP/1.1", "Host: x", "Expect: 100-continue"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    await connection.send(("\r\n".join(lines) + "\r\n\r\n").encode())
    return connection, await connection.response()


async def test_expect_with_an_unknown_key_gets_401_without_100(gateway: Gateway) -> None:
    connection, first = await _expect(
        gateway, {"Authorization": "Bearer gk_unknown", "Content-Length": "5000000"}
    )
    await connection.close()
    assert_json_error(first, 401)


async def test_expect_with_no_key_gets_401_without_100(gateway: Gateway) -> None:
    connection, first = await _expect(gateway, {"Content-Length": "10"})
    await connection.close()
    assert_json_error(first, 401)


async def test_expect_with_a_declared_size_over_the_limit_gets_413_without_100(
    make_settings: SettingsFactory,
) -> None:
    # Over the limit of every type (a declared size is held to the largest, video's).
    limits = LimitsSettings(max_upload_bytes=1_000_000, max_video_upload_bytes=1_000_000)
    settings = make_settings(limits=limits)
    async with open_gateway(settings) as gateway:
        connection, first = await _expect(
            gateway, {**gateway.auth, "Content-Length": str(500 * 1024 * 1024)}
        )
        await connection.close()
        assert_json_error(first, 413)


async def test_expect_for_a_valid_upload_gets_100_then_202(gateway: Gateway) -> None:
    photo = png_bytes(30, 30, seed=3)
    headers = {**gateway.auth, "Content-Length": str(len(photo)), "Content-Type": "image/png"}
    connection, first = await _expect(gateway, headers)
    try:
        assert first.status == 100
        await connection.send(photo)
        final = await connection.response()
        assert final.status == 202, final.body
    finally:
        await connection.close()


# tus (creation and PATCH): what the headers and the stored upload decide comes before the body.
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = {**TUS, "Content-Type": "application/offset+octet-stream"}


async def _tus_upload(gateway: Gateway, length: int) -> str:
    headers = {**gateway.auth, **TUS, "Upload-Length": str(length)}
    response = await gateway.client.post("/v1/uploads", headers=headers)
    assert response.status == 201, await response.text()
    return response.headers["Location"]


async def _expect_refused(
    gateway: Gateway, target: str, headers: dict[str, str], status: int
) -> dict[str, str]:
    connection, first = await _expect(gateway, headers, target)
    await connection.close()
    error = assert_json_error(first, status)
    assert first.headers["tus-resumable"] == "1.0.0"
    return error


async def test_expect_on_a_tus_patch_at_the_wrong_offset_gets_409_without_100(
    gateway: Gateway,
) -> None:
    location = await _tus_upload(gateway, 1000)
    headers = {**gateway.auth, **OFFSET_STREAM, "Upload-Offset": "500", "Content-Length": "500"}
    error = await _expect_refused(gateway, f"PATCH {location}", headers, 409)
    assert "Upload-Offset is 0" in error["message"]


async def test_expect_on_a_tus_patch_refuses_what_its_headers_decide(gateway: Gateway) -> None:
    location = await _tus_upload(gateway, 1000)
    patch = f"PATCH {location}"
    body = {"Upload-Offset": "0", "Content-Length": "1000"}
    await _expect_refused(gateway, patch, {**OFFSET_STREAM, **body}, 401)
    await _expect_refused(gateway, patch, {**gateway.auth, **body}, 412)  # no Tus-Resumable
    await _expect_refused(gateway, patch, {**gateway.auth, **TUS, **body}, 415)  # content type
    await _expect_refused(
        gateway, patch, {**gateway.auth, **OFFSET_STREAM, **body, "Upload-Offset": "x"}, 400
    )
    unknown = "PATCH /v1/uploads/no-such-upload"
    await _expect_refused(gateway, unknown, {**gateway.auth, **OFFSET_STREAM, **body}, 404)


async def test_expect_on_a_tus_creation_over_the_limit_gets_413_without_100(
    make_settings: SettingsFactory,
) -> None:
    limits = LimitsSettings(max_upload_bytes=1_000_000, max_video_upload_bytes=1_000_000)
    settings = make_settings(limits=limits)
    async with open_gateway(settings) as gateway:
        headers = {**gateway.auth, **OFFSET_STREAM, "Upload-Length": str(500 * 1024 * 1024)}
        headers["Content-Length"] = str(500 * 1024 * 1024)
        await _expect_refused(gateway, "POST /v1/uploads", headers, 413)


async def test_expect_on_a_valid_tus_patch_gets_100_then_204(gateway: Gateway) -> None:
    photo = png_bytes(30, 30, seed=4)
    location = await _tus_upload(gateway, len(photo))
    headers = {
        **gateway.auth,
        **OFFSET_STREAM,
        "Upload-Offset": "0",
        "Content-Length": str(len(photo)),
    }
    connection, first = await _expect(gateway, headers, f"PATCH {location}")
    try:
        assert first.status == 100
        await connection.send(photo)
        final = await connection.response()
        assert final.status == 204, final.body
        assert final.headers["upload-offset"] == str(len(photo))
        assert final.headers["gallery-image-id"]
    finally:
        await connection.close()


# --- metrics ---------------------------------------------------------------------------------


def _count(method: str, route: str, status: int) -> float:
    labels = {"method": method, "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("gallery_http_requests_total", labels) or 0.0


async def test_every_response_is_counted_with_its_status(gateway: Gateway) -> None:
    client = gateway.client
    expected = [
        ("GET", "/v1/images", 401, client.get("/v1/images")),
        ("GET", "/v1/images", 400, client.get("/v1/images?cursor=zzzz", headers=gateway.auth)),
        (
            "GET",
            "/v1/images/{image_id}",
            404,
            client.get("/v1/images/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=gateway.auth),
        ),
        ("GET", "unmatched", 404, client.get("/nowhere")),
        (
            "POST",
            "/v1/images",
            415,
            client.post("/v1/images", data=b"x" * 64, headers=gateway.auth),
        ),
    ]
    before = [_count(m, r, s) for m, r, s, _ in expected]
    malformed_before = _count("-", "malformed", 400)
    duration_before = (
        REGISTRY.get_sample_value(
            "gallery_http_request_duration_seconds_count",
            {"method": "GET", "route": "/v1/images/{image_id}"},
        )
        or 0.0
    )
    for _, _, status, call in expected:
        response = await call
        assert response.status == status
    await gateway.raw(MALFORMED_TOP_LEVEL["space before colon"])
    after = [_count(m, r, s) for m, r, s, _ in expected]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1.0] * len(expected)
    assert _count("-", "malformed", 400) == malformed_before + 1
    duration_after = REGISTRY.get_sample_value(
        "gallery_http_request_duration_seconds_count",
        {"method": "GET", "route": "/v1/images/{image_id}"},
    )
    assert duration_after == duration_before + 1, "timed under the route template"


# --- a hung catalog --------------------------------------------------------------------------


async def test_a_frozen_catalog_answers_503_within_the_timeout(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    server = start_secantus(tmp_path / "catalog")
    settings = make_settings(
        mongo=MongoSettings(uri=mongo_uri(server.port), database="frozen", timeout_seconds=1.0)
    )
    try:
        async with open_gateway(settings) as gateway:
            warm = await gateway.client.get("/v1/images", headers=gateway.auth)  # key cached
            assert warm.status == 200
            await asyncio.to_thread(freeze, server.process.pid)  # every thread stopped
            try:
                # Bounded: without an operation timeout this waits forever.
                response = await asyncio.wait_for(
                    gateway.client.get("/v1/images", headers=gateway.auth), 30
                )
                body = await response.json()
                assert response.status == 503, body
                assert body["error"]["code"] == "catalog_unavailable"
                assert response.headers["Retry-After"] == "1"
            finally:
                thaw(server.process.pid)

            async def recovered() -> bool:
                # The driver re-selects the thawed server first: on a loaded machine that can
                # take longer than the 1 s timeout once, so wait for it (bounded).
                response = await gateway.client.get("/v1/images", headers=gateway.auth)
                return response.status == 200

            await eventually(recovered, "the gateway answers again after the thaw")
    finally:
        server.stop()


async def test_aiohttp_client_upload_still_works(gateway: Gateway) -> None:
    """Sanity: a normal multipart upload through a normal client."""
    form = aiohttp.FormData()
    form.add_field("file", png_bytes(12, 12, seed=77), filename="ok.png", content_type="image/png")
    response = await gateway.client.post("/v1/images", data=form, headers=gateway.auth)
    assert response.status == 202
    assert (await response.json())["filename"] == "ok.png"
