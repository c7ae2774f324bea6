"""The Dockerfile's structure (no Docker engine here to build it)."""

from __future__ import annotations

import re

import pytest

from tests.deploy.conftest import ROOT

pytestmark = pytest.mark.deploy

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    out = []
    for raw in joined.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def build_args() -> dict[str, str]:
    return dict(arg.split("=", 1) for kw, arg in instructions() if kw == "ARG" and "=" in arg)


def test_multi_stage_from_a_pinned_slim_python() -> None:
    args = build_args()
    bases = [rest.split()[0] for kw, rest in instructions() if kw == "FROM"]
    assert len(bases) >= 2
    for base in bases:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
        name, _, tag = image.partition(":")
        assert name in {"python", "docker.io/library/python"}, image
        assert re.match(r"^3\.11\.\d+-slim", tag), f"{image}: not a pinned slim Python 3.11"
        assert "latest" not in image


def test_runs_as_a_non_root_user() -> None:
    users = [rest for kw, rest in instructions() if kw == "USER"]
    assert users, "no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "numeric UID so runAsNonRoot can verify it"
    assert int(uid) >= 10000


def test_installs_the_package_without_system_libvips() -> None:
    runs = " ".join(rest for kw, rest in instructions() if kw == "RUN")
    assert "pip install" in runs
    assert " ." in runs
    assert "libvips" not in runs
    assert "apt-get" not in runs
    assert 'ENTRYPOINT ["gallery"]' in DOCKERFILE


def test_read_only_root_needs_only_tmp() -> None:
    env = " ".join(rest for kw, rest in instructions() if kw == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "HOME=/tmp" in env
    assert "TMPDIR=/tmp" in env
    assert "compileall" in DOCKERFILE


def test_dockerignore_sends_only_what_the_build_copies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for kw, rest in instructions():
        if kw == "COPY" and "--from" not in rest:
            copied |= {src.rstrip("/").removeprefix("./") for src in rest.split()[:-1]}
    assert copied == included
