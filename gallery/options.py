"""Which gateway and key a client command uses: flags, then environment, then ``gallery up``.

``--url`` / ``GALLERY_URL``, else the gateway of the running ``gallery up`` (``--data-dir``'s,
else ``./.gallery``'s, else the one the per-user state file names: gallery/stackfile.py),
else http://127.0.0.1:8080. ``--key`` / ``GALLERY_API_KEY``, else the key that ``gallery up``
keeps in ``<data dir>/api-key``.

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

from gallery import stackfile
from gallery.childenv import validate
from gallery.stackfile import DEFAULT_DATA_DIR, StackFile
from pipeline.domain.errors import ConfigurationError
from pipeline.runtime.settings import Settings, env_names, load_settings

DEFAULT_URL = "http://127.0.0.1:8080"
__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_URL",
    "ClientOptions",
    "add_data_dir",
    "backend_settings",
    "local_stack",
]


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="gallery up's data folder (default: the running gallery up, found from anywhere)",
    )


def local_stack(args: argparse.Namespace) -> StackFile | None:
    """The running ``gallery up`` for a command's ``--data-dir`` (None: none runs)."""
    data_dir: Path | None = getattr(args, "data_dir", None)
    try:
        return stackfile.find(data_dir)
    except ConfigurationError:
        if data_dir is None:
            return None
        raise


@dataclass(frozen=True)
class ClientOptions:
    url: str
    key: str

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--url", help="gateway URL (GALLERY_URL; default: gallery up's)")
        parser.add_argument("--key", help="API key (GALLERY_API_KEY; default: gallery up's)")
        add_data_dir(parser)
        parser.add_argument(
            "--insecure",
            action="store_true",
            help="send the key over plain http:// to a host that is not this machine",
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ClientOptions:
        """Raises ConfigurationError when no key can be found, or the key would travel in
        clear (``http://`` to a host other than loopback without ``--insecure``)."""
        explicit_url = args.url or os.environ.get("GALLERY_URL")
        stack = None if explicit_url and args.key else _stack_or_none(args)
        url = explicit_url or (stack.gateway_url if stack else DEFAULT_URL)
        key = args.key or os.environ.get("GALLERY_API_KEY") or _up_key(args.data_dir, stack)
        if not key:
            raise ConfigurationError(
                "no API key: pass --key or set GALLERY_API_KEY, or start `make up` "
                "(its key is then found from any folder)"
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


def _stack_or_none(args: argparse.Namespace) -> StackFile | None:
    try:
        return local_stack(args)
    except ConfigurationError:
        return None  # a stopped `gallery up` on --data-dir still left its key there


def _up_key(data_dir: Path | None, stack: StackFile | None) -> str | None:
    candidates = [data_dir / "api-key"] if data_dir is not None else []
    if stack is not None and stack.data_dir:
        candidates.append(stack.api_key_file)
    candidates.append(DEFAULT_DATA_DIR / "api-key")
    for path in candidates:
        if path.exists():
            return path.read_text().strip()
    return None


def backend_settings(args: argparse.Namespace) -> Settings:
    """Settings for the commands that reach NATS, the catalog and the store themselves
    (``reconcile``, ``backfill``, ``dlq``, ``keys``).

    Exported ``GALLERY_NATS_URL`` / ``GALLERY_MONGO_URI`` / ``GALLERY_STORAGE_BACKEND`` mean
    another deployment: the environment alone then. Otherwise the running ``gallery up``'s
    settings (its servers, its store root, its renditions), with the user's other exported
    ``GALLERY_`` settings on top. Raises ConfigurationError naming every bad variable.
    """
    settings = load_settings()  # names unknown or invalid variables, whatever comes next
    if any(name in os.environ for name in _DEPLOYMENT_VARIABLES):
        return settings
    stack = local_stack(args)
    if stack is None or not stack.settings_env:
        return settings
    known = env_names()
    user = {k.upper(): v for k, v in os.environ.items() if k.upper() in known}
    return validate({**stack.settings_env, **user})


_DEPLOYMENT_VARIABLES = ("GALLERY_NATS_URL", "GALLERY_MONGO_URI", "GALLERY_STORAGE_BACKEND")
