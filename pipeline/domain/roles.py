"""Least privilege: what each process role may do on the bus, the object store and the catalog.

Three roles, each with its own credentials (docs/security.md, "Credentials per role"):

- ``gateway``: stores originals and resumable-upload tails, publishes render, video and
  cleanup jobs and the events of what it did (uploaded, trashed, restored, deleted, album
  changes), announces
  revoked keys (the admin API), follows the events stream for ``/v1/events``.
- ``worker``: pulls and acknowledges jobs, stores renditions, removes deleted images'
  objects (cleanup lane) and expired upload tails, publishes ready/failed events and dead
  letters, republishes stuck jobs (the outbox sweeper runs in the worker) and deletes for
  good what outlived the trash's retention (cleanup jobs, deleted events).
- ``admin``: the operator's CLI (keys, backfill, redrive, reconcile) and the stream
  manager: everything.

Pure data and renderers, no I/O: ``gallery up``, the tests and ``gallery credentials``
render the NATS ``authorization`` block, SeaweedFS's S3 identities and MongoDB's custom
roles from these tables, so the three places never drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pipeline.domain import names

Role = Literal["gateway", "worker", "admin"]
ROLES: tuple[Role, ...] = ("gateway", "worker", "admin")


@dataclass(frozen=True)
class Credential:
    """One role's secret pair: a NATS user/password, an S3 access key/secret, a catalog user."""

    user: str
    password: str


# Every process declares the streams and consumers it needs at start (CONVENTIONS 5), so every
# role may read and create them; none but admin may delete or purge a stream or its messages.
_DECLARE = (
    "$JS.API.INFO",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LIST",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.CONSUMER.NAMES.*",
    "$JS.API.CONSUMER.LIST.*",
    "$JS.API.STREAM.CREATE.*",
    "$JS.API.STREAM.UPDATE.*",
    "$JS.API.CONSUMER.INFO.*.*",
    "$JS.API.CONSUMER.CREATE.>",
    "$JS.API.CONSUMER.DURABLE.CREATE.*.*",
)
_JOB_STREAMS = (names.RENDER_STREAM, names.JOBS_STREAM)


@dataclass(frozen=True)
class NatsGrant:
    """Subjects a role may publish to and subscribe on (NATS allow lists: all else denied)."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def _events(*actions: str) -> tuple[str, ...]:
    return tuple(f"gallery.image.{action}.*" for action in actions)


NATS_GRANTS: dict[Role, NatsGrant] = {
    "gateway": NatsGrant(
        publish=(
            *_DECLARE,
            names.RENDER_SUBJECTS,
            names.VIDEO_SUBJECTS,
            names.CLEANUP_SUBJECT,
            *_events("uploaded", "trashed", "restored", "deleted"),
            names.ALBUM_EVENTS_SUBJECTS,
            names.KEYS_REVOKED_SUBJECT,
            # /v1/events: ordered consumers on the events stream, their flow control and
            # the deletion of a consumer the client replaces after a gap.
            f"$JS.API.CONSUMER.DELETE.{names.EVENTS_STREAM}.*",
            f"$JS.FC.{names.EVENTS_STREAM}.>",
            f"$JS.ACK.{names.EVENTS_STREAM}.>",
        ),
        subscribe=("_INBOX.>", names.KEYS_REVOKED_SUBJECT),
    ),
    "worker": NatsGrant(
        publish=(
            *_DECLARE,
            # The outbox sweeper republishes render jobs stuck in `queued`; the trash sweeper
            # deletes for good what outlived the retention (a cleanup job and its event).
            names.RENDER_SUBJECTS,
            names.VIDEO_SUBJECTS,
            names.CLEANUP_SUBJECT,
            *_events("ready", "failed", "deleted"),
            names.DLQ_SUBJECT,
            *(f"$JS.API.CONSUMER.MSG.NEXT.{stream}.*" for stream in _JOB_STREAMS),
            *(f"$JS.ACK.{stream}.>" for stream in _JOB_STREAMS),
        ),
        subscribe=("_INBOX.>",),
    ),
    "admin": NatsGrant(publish=(">",), subscribe=(">",)),
}


# A client without credentials in the cluster: NACK, which declares the streams and consumers
# from their manifests (it has no user/password option of its own). It may declare, nothing
# else: no publishing, no pulling, no deleting (docs/security.md).
DECLARER_USER = "gallery-declarer"
DECLARER_GRANT = NatsGrant(publish=_DECLARE, subscribe=("_INBOX.>",))


def nats_authorization(credentials: Mapping[Role, Credential], *, declarer: bool = False) -> str:
    """The ``authorization { users = [...] }`` block of nats-server's config for ``credentials``
    (with ``declarer``, also a password-less :data:`DECLARER_USER` that clients without
    credentials become, ``no_auth_user``).

    Values are JSON strings, which the NATS config parser reads as quoted strings; a value
    starting with ``$`` (``$GATEWAY_NATS_PASSWORD``) is left bare, so the server reads it from
    its environment (how the manifests pass the Secrets' passwords).
    """
    users = [
        _nats_user(credentials[role].user, credentials[role].password, NATS_GRANTS[role])
        for role in ROLES
        if role in credentials
    ]
    if declarer:
        users.append(_nats_user(DECLARER_USER, "", DECLARER_GRANT))
    block = "authorization {\n  users = [\n" + "\n".join(users) + "\n  ]\n}\n"
    return block + (f"no_auth_user: {json.dumps(DECLARER_USER)}\n" if declarer else "")


def _nats_user(user: str, password: str, grant: NatsGrant) -> str:
    secret = f"      password: {_conf_value(password)}\n" if password else ""
    return (
        "    {\n"
        f"      user: {_conf_value(user)}\n"
        f"{secret}"
        "      permissions: {\n"
        f"        publish: {{ allow: {json.dumps(list(grant.publish))} }}\n"
        f"        subscribe: {{ allow: {json.dumps(list(grant.subscribe))} }}\n"
        "      }\n"
        "    }"
    )


def _conf_value(value: str) -> str:
    return value if value.startswith("$") else json.dumps(value)


def s3_actions(role: Role, bucket: str) -> list[str]:
    """SeaweedFS identity actions (``Action:bucket/prefix*``) of ``role`` on ``bucket``.

    SeaweedFS's ``Write`` covers put, multipart and delete; so the gateway, which must never
    delete or overwrite a rendition, writes only under ``originals/``, ``uploads/`` and the
    readiness probe's folder, and reads everything it serves.
    """
    probe = f"Write:{bucket}/.gallery-check/*"
    if role == "gateway":
        return [
            f"Read:{bucket}",
            f"List:{bucket}",
            f"Write:{bucket}/{names.ORIGINALS_ROOT}*",
            f"Write:{bucket}/{names.UPLOADS_ROOT}*",
            probe,
        ]
    if role == "worker":
        # Cleanup removes a deleted image's original; the upload sweeper expired tails. The
        # worker owns the bucket (SeaweedFS's Admin scoped to it): it creates it at start
        # (GALLERY_S3_CREATE_BUCKET) and can make no other.
        return [
            f"Admin:{bucket}",
            f"Read:{bucket}",
            f"List:{bucket}",
            f"Write:{bucket}/{names.RENDITIONS_ROOT}*",
            f"Write:{bucket}/{names.ORIGINALS_ROOT}*",
            f"Write:{bucket}/{names.UPLOADS_ROOT}*",
            probe,
        ]
    return ["Admin", "Read", "List", "Write", "Tagging"]


def seaweedfs_identities(bucket: str, credentials: Mapping[Role, Credential]) -> dict[str, object]:
    """SeaweedFS's ``-s3.config`` document: one identity per role in ``credentials``."""
    return {
        "identities": [
            {
                "name": f"gallery-{role}",
                "credentials": [
                    {"accessKey": credentials[role].user, "secretKey": credentials[role].password}
                ],
                "actions": s3_actions(role, bucket),
            }
            for role in ROLES
            if role in credentials
        ]
    }


# The catalog's collections and what each role may do on them (MongoDB custom roles). Every
# role may create the indexes it declares at start (and drop retired ones). The worker gets
# nothing on api_keys.
_CRUD = ("find", "insert", "update", "remove")
_DECLARE_ACTIONS = (
    "createIndex",
    "dropIndex",
    "createCollection",
    "listIndexes",
    "listCollections",
)
COLLECTIONS = (
    "images",
    "albums",
    "tenants",
    "uploads",
    "quota_locks",
    "quota_reservations",
    "rate_windows",
    "migrations",
    "shares",
    "api_keys",
)
CATALOG_GRANTS: dict[Role, dict[str, tuple[str, ...]]] = {
    "gateway": dict.fromkeys(COLLECTIONS, _CRUD),
    "worker": {name: _CRUD for name in COLLECTIONS if name != "api_keys"},
    "admin": dict.fromkeys(COLLECTIONS, (*_CRUD, "dropCollection")),
}


def catalog_role(role: Role, database: str) -> dict[str, object]:
    """A MongoDB ``createRole`` document (also the operator's ``spec.roles`` entry shape)."""
    privileges: list[dict[str, object]] = [
        {"resource": {"db": database, "collection": collection}, "actions": list(actions)}
        for collection, actions in CATALOG_GRANTS[role].items()
    ]
    privileges.append(
        {"resource": {"db": database, "collection": ""}, "actions": list(_DECLARE_ACTIONS)}
    )
    return {"createRole": f"gallery-{role}", "privileges": privileges, "roles": []}
