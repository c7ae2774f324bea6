"""Which gateway and key a client command uses: flags, then environment, then ``gallery up``.

``--url`` / ``GALLERY_URL``, else the gateway of a ``gallery up`` running on ``--data-dir``
(default ``.gallery``), else http://127.0.0.1:8080. ``--key`` / ``GALLERY_API_KEY``, else
the key ``gallery up`` keeps in ``<data dir>/api-key``.

The key is a bearer secret: it is sent over ``https://``, or over ``http://`` to a loopback
address only (``localhost``, 127.0.0.0/8, ``::1``), unless ``--insecure`` says otherwise.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from gallery.stackfile import StackFile
from pipeline.domain.errors import ConfigurationError

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_DATA_DIR = Path(".gallery")


@dataclass(frozen=True)
class ClientOptions:
    url: str
    key: str

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--url", help="gateway URL (GALLERY_URL; default: gallery up's)")
        parser.add_argument("--key", help="API key (GALLERY_API_KEY; default: gallery up's)")
        parser.add_argument(
            "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="gallery up's data folder"
        )
        parser.add_argument(
            "--insecure",
            action="store_true",
            help="send the key over plain http:// to a host that is not this machine",
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ClientOptions:
        """Raises ConfigurationError when no key can be found, or the key would travel in
        clear (``http://`` to a host other than loopback without ``--insecure``)."""
        url = args.url or os.environ.get("GALLERY_URL") or _up_url(args.data_dir) or DEFAULT_URL
        key = args.key or os.environ.get("GALLERY_API_KEY") or _up_key(args.data_dir)
        if not key:
            raise ConfigurationError(
                "no API key: pass --key, set GALLERY_API_KEY, or run `gallery up` here"
            )
        if not getattr(args, "insecure", False):
            check_transport(url)
        return cls(url.rstrip("/"), key)


def check_transport(url: str) -> None:
    """ConfigurationError unless ``url`` keeps a bearer key private: https, or http to this
    machine's loopback."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and _loopback(parts.hostname or ""):
        return
    raise ConfigurationError(
        f"refusing to send the API key to {url} in clear: use https://, or pass --insecure"
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _up_url(data_dir: Path) -> str | None:
    try:
        return StackFile.read(data_dir).gateway_url
    except ConfigurationError:
        return None


def _up_key(data_dir: Path) -> str | None:
    path = data_dir / "api-key"
    return path.read_text().strip() if path.exists() else None
