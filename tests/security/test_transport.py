"""Keys never travel in clear: the CLI refuses plain http:// to anything but loopback unless
told ``--insecure``, and the gateway serves HTTPS itself (with HSTS) given a certificate."""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import ssl
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gallery.options import ClientOptions
from gateway.app import make_app
from gateway.appkeys import BACKENDS
from gateway.main import tls_context
from gateway.protocol import GatewayRunner
from pipeline.domain.errors import ConfigurationError
from pipeline.runtime.settings import GatewaySettings
from tests.conftest import SettingsFactory

pytestmark = pytest.mark.security


def options(url: str, *, insecure: bool = False) -> argparse.Namespace:
    return argparse.Namespace(url=url, key="gk_secret", data_dir=Path("."), insecure=insecure)


@pytest.mark.parametrize(
    "url",
    [
        "http://gallery.example.org",
        "http://10.0.0.5:8080",
        "http://127.0.0.1.nip.io:8080",
        "HTTP://192.0.2.1",
        "ftp://127.0.0.1",
    ],
)
def test_the_cli_refuses_to_send_a_key_in_clear(url: str) -> None:
    with pytest.raises(ConfigurationError, match="in clear"):
        ClientOptions.from_args(options(url))
    if url.lower().startswith("http://"):
        assert ClientOptions.from_args(options(url, insecure=True)).key == "gk_secret"


@pytest.mark.parametrize(
    "url",
    [
        "https://gallery.example.org",
        "http://127.0.0.1:8080",
        "http://127.0.0.2",
        "http://localhost:8080",
        "http://[::1]:8080",
    ],
)
def test_the_cli_sends_a_key_over_https_or_loopback(url: str) -> None:
    assert ClientOptions.from_args(options(url)).url == url


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gallery test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "tls.crt", folder / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_the_gateway_serves_https_with_hsts(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    settings = make_settings(
        gateway=GatewaySettings(tls_cert_file=str(cert), tls_key_file=str(key))
    )
    runner = GatewayRunner(make_app(settings))
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls_context(settings))
        await site.start()
        port = runner.addresses[0][1]
        api_key = await runner.app[BACKENDS].catalog.create_api_key("alice")
        trust = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as session:
            async with session.get(
                f"https://127.0.0.1:{port}/v1/images",
                headers={"Authorization": f"Bearer {api_key}"},
                ssl=trust,
            ) as response:
                assert response.status == 200
                assert response.headers["Strict-Transport-Security"].startswith("max-age=")
            with pytest.raises(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/healthz") as plain:
                    await plain.read()
    finally:
        await runner.cleanup()


def test_a_half_tls_setting_fails_at_start() -> None:
    with pytest.raises(ValueError, match="TLS"):
        GatewaySettings(tls_cert_file="/etc/tls.crt")
