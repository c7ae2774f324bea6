"""A newcomer's first minutes with the command line, against a real ``gallery up``: a folder
as people have it (sidecars, a video, hidden files, a link loop), the commands working from
any folder, albums and deletes by id prefix, and what the tables look like at 80 and 100
columns (snapshots of real runs in tests/e2e/snapshots/; ``UPDATE_SNAPSHOTS=1`` rewrites
them after a deliberate change)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gallery.servers import free_port
from tests.e2e.test_cli import RESTORE_SIGINT, Up, wait_for
from tests.images import jpeg_bytes, png_bytes
from tests.videos import clip

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SNAPSHOTS = Path(__file__).parent / "snapshots"
LIMIT = 1024 * 1024  # this stack's upload limit: 1 MiB, so a 413 is cheap to provoke
ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
SIZE = re.compile(r"\b\d+(\.\d)? (B|kB|MB)\b")
WHEN = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d|\d\d:\d\d:\d\d")

TAKEOUT = {
    "title": "IMG_0001.jpg",
    "description": "Beach at dusk",
    "photoTakenTime": {"timestamp": "1700000000", "formatted": "14 Nov 2023, 22:13:20 UTC"},
    "creationTime": {"timestamp": "1700000100"},
}
XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
 xmp:Rating="4"><dc:title><rdf:Alt><rdf:li xml:lang="x-default">Sunset</rdf:li></rdf:Alt>
 </dc:title><dc:subject><rdf:Bag><rdf:li>sea</rdf:li><rdf:li>sky</rdf:li></rdf:Bag>
 </dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"""


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    root = tmp_path_factory.mktemp("newcomer")
    data_dir = root / "data"
    ports = {n: free_port() for n in ("http", "nats", "monitor", "mongo", "metrics")}
    log = root / "up.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
    env["GALLERY_LIMITS_MAX_UPLOAD_BYTES"] = str(LIMIT)
    args = ["up", "--data-dir", str(data_dir), "--workers", "1", "--port", str(ports["http"])]
    args += ["--nats-port", str(ports["nats"]), "--nats-monitor-port", str(ports["monitor"])]
    args += ["--mongo-port", str(ports["mongo"]), "--metrics-port", str(ports["metrics"])]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gallery.cli", *args], stdout=out, stderr=subprocess.STDOUT,
            env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        # The banner waits for the workers too: 20-25 s after the gateway on a loaded machine.
        wait_for(
            lambda: "gallery is up" in log.read_text() or process.poll() is not None,
            "up",
            seconds=150,
        )
        assert process.poll() is None, log.read_text()
        key = (data_dir / "api-key").read_text().strip()
        yield Up(data_dir, f"http://127.0.0.1:{ports['http']}", key, log, ports)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(90)


def anywhere(
    up: Up, *args: str, cwd: Path, columns: int | None = None
) -> subprocess.CompletedProcess[str]:
    """``gallery ARGS`` run from ``cwd`` with no --data-dir, --url, --key or GALLERY_ variable:
    the command has only the per-user state file to find the stack by."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
    if columns:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "gallery.cli", *args],
        env=env, capture_output=True, text=True, timeout=180, check=False, cwd=cwd,
    )  # fmt: skip


def real_folder(root: Path, seed: int = 10) -> Path:
    """Photos as a phone export or a Takeout archive leaves them, seeded for fixed bytes."""
    folder = root / "photos"
    (folder / "trip" / ".thumbnails").mkdir(parents=True)
    (folder / "IMG_0001.jpg").write_bytes(jpeg_bytes(800, 600, seed=seed + 1))
    (folder / "IMG_0001.jpg.supplemental-metadata.json").write_text(json.dumps(TAKEOUT))
    (folder / "IMG_O0001.AAE").write_text('<?xml version="1.0"?><plist version="1.0"/>')
    (folder / "trip" / "sunset.png").write_bytes(png_bytes(300, 200, seed=seed + 2))
    (folder / "trip" / "sunset.xmp").write_text(XMP)
    (folder / "trip" / ".thumbnails" / "x.jpg").write_bytes(jpeg_bytes(64, 48, seed=13))
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    # A phone clip, uploaded like the photos; its width follows the seed for fresh bytes.
    (folder / "clip.mov").write_bytes(clip("mov", width=48 + 2 * (seed % 97)))
    (folder / "readme.txt").write_text("holiday photos\n")
    (folder / "trip" / "back").symlink_to("..")  # a loop: trip/back/trip/back/...
    (folder / "gone.jpg").symlink_to("nowhere.jpg")
    return folder


def test_folder_upload_skips_what_is_not_a_photo_and_reads_sidecars(up: Up, tmp_path: Path) -> None:
    folder = real_folder(tmp_path)
    done = anywhere(up, "upload", "photos", "--json", "--parallel", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    files = {Path(f["path"]).relative_to("photos").as_posix(): f for f in report["files"]}
    assert report["summary"] == (
        "8 file(s): 3 ready, 0 duplicate, 0 failed, 0 rejected, 5 skipped"
    ), "hidden files are left out, the link loop is walked once"
    assert files["IMG_0001.jpg"]["outcome"] == "ready"
    assert files["trip/sunset.png"]["outcome"] == "ready"
    takeout = files["IMG_0001.jpg.supplemental-metadata.json"]
    assert (takeout["outcome"], takeout["sidecar_of"]) == ("skipped", "photos/IMG_0001.jpg")
    assert takeout["metadata"] == {
        "taken_at": "2023-11-14T22:13:20+00:00",
        "title": "IMG_0001.jpg",
        "description": "Beach at dusk",
    }
    assert "not applied" in takeout["reason"], "the API has no field for them yet: said so"
    xmp = files["trip/sunset.xmp"]
    assert xmp["sidecar_of"] == "photos/trip/sunset.png"
    assert xmp["metadata"] == {"title": "Sunset", "keywords": ["sea", "sky"], "rating": 4}
    assert files["IMG_O0001.AAE"]["reason"] == "AAE sidecar of IMG_0001.jpg"
    assert files["clip.mov"]["outcome"] == "ready"
    assert files["readme.txt"]["reason"] == "not a photo"
    assert files["gone.jpg"]["reason"] == "broken link"
    assert not any(".thumbnails" in name or "DS_Store" in name for name in files)

    again = anywhere(up, "upload", str(folder), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "3 duplicate" in again.stderr


def test_every_command_finds_the_stack_from_any_folder(up: Up, tmp_path: Path) -> None:
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    for command in (
        ["ls"],
        ["albums", "ls"],
        ["reconcile", "--dry-run"],
        ["backfill", "--dry-run"],
        ["dlq", "list"],
        ["keys", "list"],
    ):
        done = anywhere(up, *command, cwd=elsewhere)
        assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
        as_json = anywhere(up, *command, "--json", cwd=elsewhere)
        assert as_json.returncode == 0, f"{command} --json: {as_json.stderr}"
        json.loads(as_json.stdout)  # one JSON document on stdout, for scripts
    status = anywhere(up, "status", "--json", "--interval", "0.5", cwd=elsewhere)
    assert status.returncode == 0, status.stdout + status.stderr
    assert json.loads(status.stdout)["healthy"] is True
    keys = anywhere(up, "keys", "list", cwd=elsewhere)
    assert "local  gallery up" in keys.stdout, "the stack's own catalog, not a default one"


def test_albums_and_deletes_take_names_and_id_prefixes(up: Up, tmp_path: Path) -> None:
    (tmp_path / "one.jpg").write_bytes(jpeg_bytes(320, 240, seed=21))
    uploaded = anywhere(up, "upload", "one.jpg", "--json", cwd=tmp_path)
    assert uploaded.returncode == 0, uploaded.stderr
    image_id = json.loads(uploaded.stdout)["files"][0]["image_id"]
    prefix = image_id[:20]

    created = anywhere(up, "albums", "create", "Road trip", "--json", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    album_id = json.loads(created.stdout)["id"]
    twin = anywhere(up, "albums", "create", "Road trip", cwd=tmp_path)
    assert twin.returncode == 2, "names are unique per tenant: `albums add NAME` stays unambiguous"
    assert f"an album named 'Road trip' exists already (id {album_id})" in twin.stderr
    added = anywhere(up, "albums", "add", "Road trip", prefix, "--json", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["image_count"] == 1
    renamed = anywhere(up, "albums", "rename", album_id[:20], "Road trip 2026", cwd=tmp_path)
    assert renamed.returncode == 0, renamed.stderr
    listed = json.loads(anywhere(up, "albums", "ls", "--json", cwd=tmp_path).stdout)
    assert {a["name"]: a["image_count"] for a in listed}["Road trip 2026"] == 1
    assert album_id in anywhere(up, "albums", "ls", "--ids", cwd=tmp_path).stdout.split()
    shown = anywhere(up, "show", prefix, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "Road trip 2026" in shown.stdout

    short = anywhere(up, "rm", image_id[:2], cwd=tmp_path)
    assert short.returncode == 1, "too short to name one photo: nothing deleted"
    assert "give at least 4 characters" in short.stdout
    removed = anywhere(up, "rm", prefix, "--json", cwd=tmp_path)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert json.loads(removed.stdout) == [
        {"id": prefix, "image_id": image_id, "outcome": "deleted", "reason": None}
    ]
    assert anywhere(up, "show", image_id, cwd=tmp_path).returncode == 4
    gone = anywhere(up, "albums", "rm", "Road trip 2026", cwd=tmp_path)
    assert gone.returncode == 0, gone.stderr
    assert "Road trip 2026" not in anywhere(up, "albums", "ls", cwd=tmp_path).stdout


def test_over_the_limit_names_mib_and_the_setting(up: Up, tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(jpeg_bytes(64, 48, seed=31) + b"\0" * (2 * LIMIT))
    done = anywhere(up, "upload", "big.jpg", "--json", cwd=tmp_path)
    assert done.returncode == 1
    (result,) = json.loads(done.stdout)["files"]
    assert result["outcome"] == "rejected"
    assert "1 MiB (1048576 bytes; the gateway's GALLERY_LIMITS_MAX_UPLOAD_BYTES" in result["reason"]


@pytest.mark.parametrize("columns", [80, 100])
def test_tables_fit_the_terminal_with_whole_ids(up: Up, tmp_path: Path, columns: int) -> None:
    folder = real_folder(tmp_path, seed=columns * 100)  # fresh bytes: every photo ends ready
    (folder / "a photo with a rather long name from a camera roll.jpg").write_bytes(
        jpeg_bytes(640, 480, seed=columns * 100 + 9)
    )
    upload = anywhere(up, "upload", "photos", "--parallel", "1", cwd=tmp_path, columns=columns)
    assert upload.returncode == 0, upload.stdout + upload.stderr
    listing = anywhere(up, "ls", "--limit", "3", cwd=tmp_path, columns=columns)
    assert listing.returncode == 0, listing.stderr
    ids = set(ULID.findall(anywhere(up, "ls", "--ids", cwd=tmp_path).stdout))
    for screen in (upload.stdout, listing.stdout):
        assert max(len(line.rstrip()) for line in screen.splitlines()) <= columns
        assert set(ULID.findall(screen)) <= ids, "every id shown is whole"
    assert len(ULID.findall(listing.stdout)) == 3
    snapshot(f"upload-{columns}.txt", upload.stdout)
    snapshot(f"ls-{columns}.txt", listing.stdout)


def snapshot(name: str, screen: str) -> None:
    """Compares a screen with its snapshot, ids, times and sizes masked (widths kept)."""
    nines = lambda m: re.sub(r"\d", "9", m.group())  # noqa: E731
    # Sizes too: another libvips release encodes the same scene into other byte counts.
    masked = SIZE.sub(nines, WHEN.sub(nines, ULID.sub("I" * 26, screen)))
    text = "\n".join(line.rstrip() for line in masked.splitlines()) + "\n"
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed:\n{text}"


class Watcher:
    """``gallery upload --watch inbox --json`` in the background, its lines collected."""

    def __init__(self, up: Up, cwd: Path, state: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
        command = [sys.executable, "-c", RESTORE_SIGINT, "upload", "--watch", "inbox",
                   "--interval", "0.3", "--watch-state", str(state), "--json"]  # fmt: skip
        self.log = (cwd / f"watch-{time.monotonic_ns()}.log").open("w")
        self.process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=self.log, text=True
        )
        self.lines: list[dict[str, Any]] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(json.loads(line))

    def outcome(self, name: str) -> str | None:
        return next((r["outcome"] for r in self.lines if Path(r["path"]).name == name), None)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(60)
        self.reader.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.log.close()
        return self.process.returncode


def test_watch_imports_new_photos_and_a_restart_sends_only_new_ones(up: Up, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    state = tmp_path / "watched.json"
    (inbox / "first.jpg").write_bytes(jpeg_bytes(320, 240, seed=51))
    (inbox / "notes.txt").write_text("shopping list")
    first = Watcher(up, tmp_path, state)
    try:
        wait_for(lambda: first.outcome("first.jpg") == "ready", "first.jpg imported")
        (inbox / "second.jpg").write_bytes(jpeg_bytes(320, 240, seed=52))
        wait_for(lambda: first.outcome("second.jpg") == "ready", "second.jpg imported")
    finally:
        assert first.stop() == 0, "Ctrl-C is how a watch ends"
    assert first.outcome("notes.txt") == "skipped"
    assert [r["path"] for r in first.lines].count("inbox/first.jpg") == 1, "sent once"

    second = Watcher(up, tmp_path, state)  # a restart: only what is new since is sent
    try:
        (inbox / "third.jpg").write_bytes(jpeg_bytes(320, 240, seed=53))
        wait_for(lambda: second.outcome("third.jpg") == "ready", "third.jpg imported")
    finally:
        second.stop()
    sent = {Path(r["path"]).name for r in second.lines if r["outcome"] != "skipped"}
    assert sent == {"third.jpg"}, second.lines
