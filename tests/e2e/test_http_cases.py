"""The HTTP rows of the cases table against ``gallery gateway`` and a worker process."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import SettingsFactory
from tests.e2e.conftest import StackFactory
from tests.images import jpeg_bytes
from tests.rawhttp import RawConnection, request

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
CASES = Path(__file__).resolve().parents[1] / "data" / "cases"


async def test_latin1_file_name_is_accepted_and_becomes_ready(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for
) -> None:
    """c11: a multipart file name in raw Latin-1 bytes: 202 with the name decoded, then ready."""
    stack = await start_stack(make_settings())
    api = await api_for(stack, "alice")
    body = (CASES / "c11_latin1_name.multipart").read_bytes()
    boundary = (CASES / "c11_latin1_name.boundary").read_text().strip()
    async with api.session.post(
        f"{stack.url}/v1/images",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    ) as response:
        doc = await response.json()
        assert response.status == 202, doc
    assert doc["filename"] == "f\u00e9te \u00b5.jpg"
    ready = await api.wait_status(doc["id"], {"ready", "failed"})
    assert ready["status"] == "ready", ready
    assert ready["filename"] == "f\u00e9te \u00b5.jpg"


async def test_head_and_conditional_get_on_a_rendition_of_the_running_gateway(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for
) -> None:
    stack = await start_stack(make_settings())
    api = await api_for(stack, "alice")
    _, doc = await api.upload(jpeg_bytes(800, 600, seed=11))
    ready = await api.wait_status(doc["id"], {"ready", "failed"})
    assert ready["status"] == "ready", ready
    url = ready["renditions"]["thumb"]["url"]
    key = api.session.headers["Authorization"]
    address = urlsplit(stack.url)
    connection = await RawConnection.open(address.hostname or "", address.port or 0)
    try:
        for path in [url, f"/v1/images/{doc['id']}/original", f"/v1/images/{doc['id']}"]:
            await connection.send(request("HEAD", path, {"Authorization": key}))
            head = await connection.response(head=True)
            assert head.status == 200, (path, head)
            # Same connection: the GET's answer must not be preceded by stray body bytes.
            await connection.send(request("GET", path, {"Authorization": key}))
            full = await connection.response()
            assert full.status == 200, (path, full)
            assert len(full.body) == int(head.headers["content-length"])
    finally:
        await connection.close()
    async with api.session.get(f"{stack.url}{url}") as response:
        etag = response.headers["ETag"]
        assert response.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    weak = {"If-None-Match": f"W/{etag}"}  # what a proxy revalidating sends
    async with api.session.get(f"{stack.url}{url}", headers=weak) as response:
        assert response.status == 304


async def test_folded_part_header_is_a_json_400(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for
) -> None:
    """c27 against the gateway process: a 400 that says the form is malformed, never a 5xx."""
    stack = await start_stack(make_settings())
    api = await api_for(stack, "alice")
    body = (CASES / "c27_folded.multipart").read_bytes()
    boundary = (CASES / "c27.boundary").read_text().strip()
    async with api.session.post(
        f"{stack.url}/v1/images",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    ) as response:
        assert response.status == 400
        assert "malformed" in (await response.json())["error"]["message"]
    address = urlsplit(stack.url)
    connection = await RawConnection.open(address.hostname or "", address.port or 0)
    await connection.send(b"GET /v1/images HTTP/1.1\r\nHost : x\r\n\r\n")
    answer = await connection.response()
    await connection.close()
    assert answer.status == 400
    assert answer.json()["error"]["code"] == "malformed_request"
