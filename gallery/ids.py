"""Ids as people type them: a full ULID, or a short prefix that names one thing only.

``gallery ls`` shows full ids (26 characters, never cut); any command that takes an image
id also takes its first few characters, and an album may be named by its name (unique per
tenant: the gateway refuses a second album of a name with 409) or by an id or id prefix. A
prefix that matches several is refused with the matches listed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from gallery.api import Api, Json
from pipeline.domain.albums import same_name
from pipeline.domain.errors import InputError, NotFound

ULID_LENGTH = 26
MIN_PREFIX = 4
SHOWN_MATCHES = 5


async def image_id(api: Api, text: str) -> str:
    """The full id of the image ``text`` names; NotFound, or InputError when ambiguous."""
    text = text.strip().upper()
    if len(text) == ULID_LENGTH:
        return text
    image = await _unique(api.images(), text, "image")
    return str(image["id"])


async def album(api: Api, text: str) -> Json:
    """The album named ``text`` (names are unique per tenant, compared in NFC as the gateway
    keeps them), else the one whose id starts with it."""
    albums = [a async for a in api.albums()]
    name = same_name(text.strip())
    for named in albums:
        if same_name(str(named.get("name", ""))) == name:
            return named

    async def listed() -> AsyncIterator[Json]:
        for item in albums:
            yield item

    try:
        return await _unique(listed(), text.strip().upper(), "album")
    except NotFound:
        raise NotFound(f"no album named {text!r} and no album id starting so") from None


async def _unique(items: AsyncIterator[Json], prefix: str, what: str) -> Json:
    if len(prefix) < MIN_PREFIX:
        raise InputError(f"{what} id {prefix!r}: give at least {MIN_PREFIX} characters")
    matches: list[Json] = []
    async for item in items:
        if str(item["id"]).upper().startswith(prefix):
            matches.append(item)
            if len(matches) > SHOWN_MATCHES:
                break
    if not matches:
        raise NotFound(f"no {what} {prefix} for this key")
    if len(matches) > 1:
        shown = ", ".join(str(m["id"]) for m in matches[:SHOWN_MATCHES])
        raise InputError(f"{what} id {prefix!r} matches several: {shown}; give more characters")
    return matches[0]
