"""Names people give things (album names, API key tenants and names): trimmed, never blank.

"Blank" must mean the same to the server and to the OpenAPI document, whose ``pattern`` is
an ECMA-262 regular expression (JSON Schema 2020-12, section 6.3.3). ECMA's ``\\s`` lacks
five characters Python's ``str.isspace`` counts as space (U+001C-U+001F and U+0085, NEL),
and Python's lacks one of ECMA's (U+FEFF). Both sides therefore use the union: a label is
blank when it holds nothing but characters of either set (a schema fuzzer found the gap by
sending a tenant of a single U+0085).
"""

from __future__ import annotations

import re

from pipeline.domain.errors import InputError

MAX_LABEL_CHARS = 200
# For the OpenAPI document: at least one character that is space in neither definition.
NOT_BLANK_PATTERN = r"[^\s\u001c-\u001f\u0085]"
_EDGES = re.compile(r"^[\s\ufeff]+|[\s\ufeff]+$")


def trimmed(value: str) -> str:
    """``value`` without leading and trailing space of either definition (may be "")."""
    return _EDGES.sub("", value)


def label(value: object, what: str, error: str) -> str:
    """``value`` trimmed, if it is a string of 1..MAX_LABEL_CHARS characters then.

    Raises InputError (``error`` for the log, "<what> must be a string of 1 to 200
    characters" for the client) otherwise.
    """
    text = trimmed(value) if isinstance(value, str) else ""
    if not 1 <= len(text) <= MAX_LABEL_CHARS:
        raise InputError(
            error, public_message=f"{what} must be a string of 1 to {MAX_LABEL_CHARS} characters"
        )
    return text


#: A tenant is a DNS label: lower-case letters, digits and inner hyphens, 1..63 characters.
#: It becomes a segment of object keys (``originals/{tenant}/...``) and of log lines, so no
#: ``/``, no dot, no control or look-alike character: two tenants' keys can never share a
#: prefix, and a tenant name cannot forge a log line.
TENANT_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
_TENANT = re.compile(TENANT_PATTERN)


def tenant_label(value: object) -> str:
    """``value`` if it is a safe tenant name (:data:`TENANT_PATTERN`); InputError (400
    naming the field) otherwise."""
    if not isinstance(value, str) or not _TENANT.fullmatch(value):
        raise InputError(
            "bad tenant",
            public_message="tenant must be 1 to 63 lower-case letters, digits or inner "
            "hyphens (a DNS label)",
        )
    return value
