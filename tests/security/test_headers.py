"""Security headers: the page, the API and its errors carry the policy, stored photos a
sandboxing one and a Content-Disposition, presigned URLs pin type and disposition, and no
answer names the server's versions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import SettingsFactory
from tests.images import png_bytes
from tests.integration.test_http_hygiene import Gateway, open_gateway

pytestmark = pytest.mark.security
INDEX = Path(__file__).resolve().parents[2] / "gateway" / "static" / "index.html"


class InlineCode(HTMLParser):
    """Collects what a policy without 'unsafe-inline' would block in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style>")
        self.found += [f"{tag} {name}=" for name in names if name.startswith("on")]
        if "style" in names:
            self.found.append(f"{tag} style=")


def assert_page_headers(headers: aiohttp.typedefs.LooseHeaders) -> None:
    got = {k.lower(): v for k, v in dict(headers).items()}
    policy = got["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert got["x-content-type-options"] == "nosniff"
    assert got["referrer-policy"] == "no-referrer"
    assert got["server"] == "gallery", "no product versions"
    assert "strict-transport-security" not in got, "HSTS only over HTTPS"


def test_the_page_has_no_inline_code() -> None:
    parser = InlineCode()
    parser.feed(INDEX.read_text())
    assert parser.found == []


@pytest.fixture
async def gateway(make_settings: SettingsFactory) -> AsyncIterator[Gateway]:
    async with open_gateway(make_settings()) as opened:
        yield opened


async def test_the_page_the_api_and_errors_carry_the_headers(gateway: Gateway) -> None:
    client = gateway.client
    for path, status in [("/", 200), ("/v1/images", 200), ("/v1/nothing", 404), ("/healthz", 200)]:
        response = await client.get(path, headers=gateway.auth)
        assert response.status == status
        assert_page_headers(response.headers)
    refused = await client.get("/v1/images")
    assert refused.status == 401
    assert_page_headers(refused.headers)


async def test_an_original_is_an_attachment_under_a_sandbox(gateway: Gateway) -> None:
    client = gateway.client
    posted = await client.post(
        "/v1/images?filename=%E2%80%AEgpj.html",  # RIGHT-TO-LEFT OVERRIDE: a spoofed name
        data=png_bytes(40, 30),
        headers={**gateway.auth, "Content-Type": "image/png"},
    )
    image = await posted.json()
    response = await client.get(f"/v1/images/{image['id']}/original", headers=gateway.auth)
    assert response.status == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=")
    assert "\u202e" not in disposition, "header text stays ASCII"
    policy = response.headers["Content-Security-Policy"]
    assert "sandbox" in policy
    assert "default-src 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"

    redirect = await client.get(
        f"/v1/images/{image['id']}/original?redirect=1",
        headers=gateway.auth,
        allow_redirects=False,
    )
    assert redirect.status == 302
    url = redirect.headers["Location"]
    assert "response-content-disposition=attachment" in url
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as stored:
            assert stored.status == 200
            assert stored.headers["Content-Type"] == "image/png"
            assert stored.headers["Content-Disposition"].startswith("attachment")
        tampered = url.replace(
            "response-content-type=image%2Fpng", "response-content-type=text%2Fhtml"
        )
        assert tampered != url
        async with session.get(tampered) as forged:
            assert forged.status == 403, "a changed type breaks the signature"
