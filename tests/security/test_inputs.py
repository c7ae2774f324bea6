"""Text an attacker controls: log lines it cannot forge, EXIF strings without control
characters, CLI output that shows escapes instead of running them, tenant names that are
safe object-key segments."""

from __future__ import annotations

import io
import logging

import pytest
from rich.console import Console
from rich.table import Table

from gallery import output
from pipeline.domain import names
from pipeline.domain.errors import InputError
from pipeline.domain.labels import tenant_label
from pipeline.domain.text import printable, without_controls
from pipeline.imaging.exif import parse_exif
from pipeline.runtime.process import OneLineFormatter
from tests.conftest import SettingsFactory
from tests.images import exif_blob
from tests.integration.test_http_hygiene import open_gateway
from tests.rawhttp import request

pytestmark = pytest.mark.security
OSC8_LINK = "\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07"


def test_control_and_bidi_characters_are_escaped_or_dropped() -> None:
    hostile = f"a\nb\r\x00{OSC8_LINK}\u202egpj.exe\u2028\x85"
    shown = printable(hostile)
    assert shown.isprintable()
    assert "\\x1b" in shown
    assert "\\u202e" in shown
    assert without_controls(hostile).isprintable()
    assert printable("Zoë 東京 📷") == "Zoë 東京 📷", "ordinary text untouched"


def test_a_log_message_cannot_forge_a_line() -> None:
    formatter = OneLineFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord(
        "gateway", logging.INFO, __file__, 1, "GET %s", ("/v1/x\nINFO admin login ok",), None
    )
    line = formatter.format(record)
    assert "\n" not in line
    assert line == "INFO GET /v1/x\\x0aINFO admin login ok"


async def test_a_newline_in_a_path_stays_on_its_log_line(
    make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with open_gateway(make_settings()) as gateway:
        forged = "/v1/images/x%0A2026-01-01%20INFO%20gateway:%20admin%20key%20accepted"
        for path in (forged, "/v1/%0D%0Aimages", "/%1B%5D8;;x%07"):
            await gateway.raw(request("GET", path, {**gateway.auth, "Connection": "close"}))
    formatter = OneLineFormatter("%(name)s: %(message)s")
    lines = [formatter.format(record) for record in caplog.records if not record.exc_info]
    assert lines, "the requests were logged"
    assert all("\n" not in line and "\r" not in line and "\x1b" not in line for line in lines)


def test_exif_strings_lose_their_control_characters() -> None:
    blob = exif_blob(1, camera=True, gps=False)
    hostile = blob.replace(b"GalleryCam", b"\x1b]8;;u\x07Cam")
    hostile = hostile.replace(b"GC-1 Mk II", b"GC\nforged!")
    assert len(hostile) == len(blob)
    parsed = parse_exif(hostile, store_gps=False)
    assert parsed["camera_make"] == "]8;;uCam"
    assert parsed["camera_model"] == "GCforged!"


def test_cli_tables_show_escapes_and_no_markup() -> None:
    table = Table()
    table.add_column("file")
    table.add_row(output.cell(f"{OSC8_LINK}[link=https://evil.example/]x[/link].jpg"))
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=True, width=200, color_system="truecolor").print(table)
    text = buffer.getvalue()
    assert "]8;;https://evil.example/" in text  # shown ...
    assert "\x1b]8;;https" not in text  # ... not run
    assert "[link=https://evil.example/]" in text, "brackets printed, not read as markup"


@pytest.mark.parametrize(
    "name",
    ["a/b", "../x", "A", "alice\n", "x" * 64, "é", "", "-a", "a-", "a.b", "a b", "a\x00"],
)
def test_unsafe_tenant_names_are_refused(name: str) -> None:
    with pytest.raises(InputError) as refused:
        tenant_label(name)
    assert "tenant" in refused.value.public_message


def test_tenant_prefixes_never_overlap() -> None:
    """The issue's crafted pair: with '/' refused, no tenant's prefix is inside another's."""
    tenants = ["a", "a-b", "ab", "b", "x" * 63]
    for tenant in tenants:
        assert tenant_label(tenant) == tenant
    prefixes = [names.original_key(t, "IMG") for t in tenants]
    for one in tenants:
        for other in tenants:
            if one != other:
                assert not names.original_key(other, "I").startswith(f"originals/{one}/")
    assert len(set(prefixes)) == len(tenants)
