"""File names as clients send them, made safe to store and show.

Clients send names in whatever encoding their platform uses: browsers send UTF-8, older
tools raw Latin-1 bytes, Windows tools full paths with backslashes. A name is metadata for
people, never a key or a path here, so the rule is to keep what a person would recognise
and drop only what is never part of a name: the folders before it and control characters.
"""

from __future__ import annotations

import re
import unicodedata

# A Windows absolute path (C:\dir\name.jpg or \\server\share\name.jpg), as old browsers and
# some Windows tools send. Any other backslash is part of the name (before\after.jpg).
_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:\\|\\\\)")


def decode_name(raw: bytes) -> str:
    """UTF-8 when the bytes are valid UTF-8, else Latin-1 (every byte is a character there).

    Latin-1 rather than replacement characters: it is what a client sending raw 8-bit
    names almost always meant (``caf\\xe9.jpg`` is ``café.jpg``), and it never fails.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def clean_filename(name: str | bytes | None) -> str | None:
    """The name without folders or control characters; None when nothing is left.

    ``str`` input may carry lone surrogates (aiohttp decodes header bytes with
    ``surrogateescape``): they are turned back into bytes and decoded with
    :func:`decode_name`, so nothing unencodable ever reaches the catalog.
    Examples: ``"C:\\\\photos\\\\a.jpg" -> "a.jpg"``, ``"x/../b.jpg" -> "b.jpg"``,
    ``"before\\\\after.jpg"`` unchanged, ``"a\\x00b.jpg" -> "ab.jpg"``, ``".."`` -> None.
    """
    if name is None:
        return None
    text = decode_name(name if isinstance(name, bytes) else _to_bytes(name))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc")
    text = text.rpartition("/")[2]
    if _WINDOWS_PATH.match(text):
        text = text.rpartition("\\")[2]
    if text.strip() in {"", ".", ".."}:
        return None
    return text


def _to_bytes(name: str) -> bytes:
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that no byte decoding produced
        return name.encode("utf-8", "replace")
