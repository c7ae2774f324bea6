"""The file part of a ``multipart/form-data`` upload and its file name.

aiohttp parses the part headers; the file name is read here from the raw
``Content-Disposition`` value because aiohttp's parser unescapes backslashes
(``before\\after.jpg`` became ``beforeafter.jpg``) while browsers send them unescaped
(WHATWG HTML, "multipart/form-data encoding algorithm": only ``"``, CR and LF are escaped,
as ``%22``, ``%0D``, ``%0A``). Grammar: RFC 7578 section 4.2 and RFC 6266 section 4.1;
``filename*`` (RFC 8187 ``charset'lang'pct-encoded``) wins over ``filename`` when both
are sent (RFC 6266 section 4.3). Part headers aiohttp refuses (folded, no colon, a NUL)
become :class:`MalformedRequest` (400), never a 500.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.client_exceptions import ClientPayloadError
from aiohttp.http_exceptions import HttpProcessingError

from pipeline.domain.errors import InputError, MalformedRequest, UploadInterrupted
from pipeline.domain.filenames import clean_filename, decode_name

# One `; name=value` parameter; the value a quoted string (with `\"` inside) or a token.
_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*(?:"|$)|[^;]*)')
_EXTENDED = re.compile(r"^([A-Za-z0-9!#$%&+^_`{}~-]*)'[^']*'(.*)$")


def disposition_params(value: str) -> dict[str, str]:
    """Parameters of a Content-Disposition value, names lower-cased, quotes removed.

    Inside a quoted value only ``\\"`` is an escape; any other backslash is kept as sent.
    """
    params: dict[str, str] = {}
    for match in _PARAM.finditer(value):
        name, raw = match.group(1).lower(), match.group(2).strip()
        if raw.startswith('"'):
            raw = raw[1:-1] if len(raw) > 1 and raw.endswith('"') else raw[1:]
            raw = raw.replace('\\"', '"')
        params.setdefault(name, raw)
    return params


def part_filename(disposition: str) -> str | None:
    """The file name a part's Content-Disposition carries, cleaned; None for a plain field.

    An empty string means "a file part without a usable name" (browsers send
    ``filename=""`` when no file was picked).
    """
    params = disposition_params(disposition)
    if "filename*" in params:
        return clean_filename(_extended_value(params["filename*"])) or ""
    if "filename" in params:
        return clean_filename(params["filename"].replace("%22", '"')) or ""
    return None


def _extended_value(value: str) -> str:
    """Decode ``charset'lang'pct-encoded`` (RFC 8187 section 3.2); unknown charsets as bytes."""
    match = _EXTENDED.match(value)
    if match is None:
        return value
    charset, encoded = match.group(1).lower(), match.group(2)
    raw = unquote_to_bytes(encoded)
    if charset in {"iso-8859-1", "latin-1", "latin1"}:
        return raw.decode("latin-1")
    return decode_name(raw)


async def file_part(request: web.Request) -> tuple[BodyPartReader, str | None]:
    """The first file part of the form and its name; raises InputError for none or a bad form."""
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            name = part_filename(part.headers.get(hdrs.CONTENT_DISPOSITION, ""))
            if name is not None:
                return part, name or None
            await part.release()
    except HttpProcessingError as exc:
        raise MalformedRequest(
            f"multipart part headers: {exc.message}",
            public_message="the multipart form is malformed: a part header is invalid "
            "(folded, without a colon, or with a control character)",
        ) from exc
    except ValueError as exc:
        raise MalformedRequest(
            f"multipart framing: {exc}", public_message="the multipart form is malformed"
        ) from exc
    except (ClientPayloadError, ConnectionError) as exc:
        raise UploadInterrupted(
            f"multipart body incomplete: {exc}", public_message="upload interrupted"
        ) from exc
    raise InputError("multipart body has no file part", public_message="no file part in the form")
