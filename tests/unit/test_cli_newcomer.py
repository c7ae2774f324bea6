"""The command line's newcomer parts without servers: tables at any width keep ids whole,
sidecars in their common spellings, a folder as a camera or Takeout leaves it, the per-user
stack pointer, and a 413 in binary units naming its setting."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from rich.console import Console

from gallery import stackfile
from gallery.api import binary_bytes, http_error
from gallery.folder import collect
from gallery.sidecars import owner, read
from gallery.stackfile import StackFile
from gallery.tables import Column, table
from tests.images import jpeg_bytes

pytestmark = pytest.mark.unit

ULID = "01M99508SH9XCSP695RYHCF5KB"


@pytest.mark.parametrize("width", [40, 60, 80, 100])
def test_a_table_never_cuts_an_id_and_fits_when_it_can(width: int) -> None:
    columns = [Column("id", fixed=True), Column("file"), Column("reason")]
    rows = [[ULID, "/a/very/long/path/to/some/IMG_0001.jpg", "not a photo: " + "why " * 20]]
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(table(columns, rows, console.width))
    text = console.export_text()
    assert ULID in text, text
    if width >= 60:
        assert max(len(line.rstrip()) for line in text.splitlines()) <= width, text


def test_a_column_empty_everywhere_is_left_out() -> None:
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(table([Column("id", fixed=True), Column("note")], [[ULID, ""]], 80))
    assert "note" not in console.export_text()


def test_xmp_in_attribute_and_element_forms(tmp_path: Path) -> None:
    xmp = tmp_path / "a.xmp"
    xmp.write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
        'photoshop:DateCreated="2024-05-01T12:34:56"><xmp:Rating>9</xmp:Rating>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    assert read(xmp) == ("XMP", {"rating": 5, "taken_at": "2024-05-01T12:34:56"})
    (tmp_path / "b.xmp").write_text("<not xml")
    assert read(tmp_path / "b.xmp") == ("unknown", {})


def test_sidecars_find_their_photo_by_the_names_apps_give_them(tmp_path: Path) -> None:
    photos = {n.lower(): tmp_path / n for n in ("IMG_0001.HEIC", "IMG_0002.JPG", "DSC_9.NEF")}
    assert owner(tmp_path / "IMG_0001.AAE", photos) == photos["img_0001.heic"]
    assert owner(tmp_path / "IMG_O0001.AAE", photos) == photos["img_0001.heic"]
    assert owner(tmp_path / "IMG_0002.JPG.xmp", photos) == photos["img_0002.jpg"]
    assert owner(tmp_path / "DSC_9.xmp", photos) == photos["dsc_9.nef"]
    # Takeout shortens long names and adds suffixes: anything that starts with the photo's.
    name = "IMG_0002.JPG.supplemental-metadata(1).json"
    assert owner(tmp_path / name, photos) == photos["img_0002.jpg"]
    assert owner(tmp_path / "other.json", photos) is None


def test_takeout_json_without_its_fields_is_not_a_sidecar(tmp_path: Path) -> None:
    (tmp_path / "a.jpg.json").write_text(json.dumps({"name": "something else"}))
    assert read(tmp_path / "a.jpg.json") == ("unknown", {})


def test_a_folder_as_people_have_it(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes(32, 24))
    (tmp_path / "renamed.txt").write_bytes(jpeg_bytes(32, 24, seed=1))  # sniffed, not named
    (tmp_path / "photo.jpg").write_text("not really")
    (tmp_path / ".hidden.jpg").write_bytes(jpeg_bytes(32, 24, seed=2))
    (tmp_path / "sub" / "loop").symlink_to("..")
    (tmp_path / "twice.jpg").symlink_to("a.jpg")
    found = collect([tmp_path])
    assert sorted(p.name for p in found.photos) == ["a.jpg", "renamed.txt"]
    assert {s.path.name: s.reason for s in found.skipped} == {"photo.jpg": "not a photo"}
    assert found.hidden == 1


def test_the_per_user_file_finds_a_running_stack_and_forgets_a_stopped_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)  # no ./.gallery here
    data = tmp_path / "data"
    data.mkdir()
    stack = StackFile(os.getpid(), "http://127.0.0.1:1", "nats://x", "http://x", "mongodb://x")
    stack.write(data)
    assert stackfile.user_file().stat().st_mode & 0o777 == 0o600
    found = stackfile.find()
    assert found is not None
    assert found.gateway_url == "http://127.0.0.1:1"
    stackfile.remove(data)
    assert stackfile.find() is None
    assert not stackfile.user_file().exists()


def test_a_413_says_mib_and_the_setting() -> None:
    error = http_error(
        413, {"error": {"message": "upload exceeds the limit of 104857600 bytes"}}, ""
    )
    assert "100 MiB (104857600 bytes" in str(error)
    assert "GALLERY_LIMITS_MAX_UPLOAD_BYTES" in str(error)
    assert binary_bytes(1536) == "1.5 KiB"
