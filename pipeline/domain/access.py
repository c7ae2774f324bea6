"""Who is asking: a principal, and the scopes an API key can carry.

Every request resolves to one :class:`Principal` before it reaches a service: a tenant's
API key (with its scopes), the operator's admin key, or a share link (see
:mod:`pipeline.services.access` for what each may see or do).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from pipeline.domain.errors import InputError

Scope = Literal["read", "upload", "delete", "share", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
DEFAULT_SCOPES: frozenset[Scope] = frozenset({"read", "upload", "delete", "share"})
"""What a key gets when none are asked for, and what keys made before scopes existed have."""

PrincipalKind = Literal["key", "admin", "share"]


@dataclass(frozen=True)
class ShareGrant:
    """What a share link opens: one album or one image of ``tenant``, until ``expires_at``."""

    share_id: str
    tenant: str
    album_id: str | None
    image_id: str | None
    allow_download: bool
    expires_at: datetime


@dataclass(frozen=True)
class Principal:
    """The caller of one request.

    ``id`` names it for per-caller counters (a key's hash, ``admin``, a share's id);
    ``tenant`` is empty for the admin key; ``share`` is set for a share link only.
    """

    kind: PrincipalKind
    id: str
    tenant: str
    scopes: frozenset[Scope]
    share: ShareGrant | None = None

    @classmethod
    def key(cls, tenant: str, key_hash: str, scopes: Iterable[Scope] = DEFAULT_SCOPES) -> Principal:
        return cls("key", key_hash, tenant, frozenset(scopes))

    @classmethod
    def admin(cls) -> Principal:
        return cls("admin", "admin", "", frozenset())

    @classmethod
    def link(cls, grant: ShareGrant) -> Principal:
        return cls("share", grant.share_id, grant.tenant, frozenset({"read"}), grant)


def parse_scopes(value: object) -> frozenset[Scope]:
    """A JSON list of scope names, at least one; InputError naming ``scopes`` otherwise."""
    if value is None:
        return DEFAULT_SCOPES
    if not isinstance(value, list) or not value or any(v not in SCOPES for v in value):
        raise InputError(
            f"bad scopes {value!r}",
            public_message=f"scopes must be a non-empty list of {', '.join(SCOPES)}",
        )
    return frozenset(value)


def sorted_scopes(scopes: Iterable[Scope]) -> list[Scope]:
    """Scopes in the order of :data:`SCOPES` (stable JSON)."""
    chosen = set(scopes)
    return [s for s in SCOPES if s in chosen]
