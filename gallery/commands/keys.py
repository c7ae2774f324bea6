"""``gallery keys create|list|revoke``: API keys, straight against the catalog and the bus.

``create --scope read --scope upload`` limits what the key may do (default: read, upload,
delete, share); ``list`` shows each key's scopes but never a key (only its id, the first
16 hex digits of its hash); ``revoke``
stores the revocation and announces it, so every gateway refuses the key within seconds.
"""

from __future__ import annotations

import argparse
from typing import Any

from gallery import output
from gallery.options import add_data_dir
from pipeline.domain.access import SCOPES, Principal, sorted_scopes
from pipeline.domain.keys import ApiKeyInfo
from pipeline.runtime.settings import Settings


def add_parsers(sub: Any) -> None:
    keys = sub.add_parser("keys", help="manage API keys")
    add_data_dir(keys)
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create an API key for a tenant (printed once)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", default="default")
    create.add_argument(
        "--scope",
        action="append",
        choices=SCOPES,
        dest="scopes",
        help="what the key may do (repeat; default: read, upload, delete, share)",
    )
    create.add_argument(
        "--expires-in", type=int, metavar="SECONDS", help="refuse the key after this long"
    )
    listing = keys_sub.add_parser("list", help="list API keys by id (never the keys)")
    listing.add_argument("--tenant", help="only this tenant's keys")
    revoke = keys_sub.add_parser("revoke", help="revoke a key: every gateway refuses it")
    revoke.add_argument("key_id", help="the id `gallery keys list` shows")
    for verb in (create, listing, revoke):
        verb.add_argument("--json", action="store_true", help="the key record(s) as JSON")


async def run(settings: Settings, args: argparse.Namespace) -> None:
    # Per command, as in gallery.cli: the client libraries load only when a command needs them.
    from pipeline.adapters.bus import JetStreamBus
    from pipeline.adapters.catalog import MongoCatalog
    from pipeline.services.keys import KeyService

    async with (
        MongoCatalog.connect(settings.mongo) as catalog,
        JetStreamBus.connect(settings.nats, name="gallery-cli") as bus,
    ):
        await catalog.ensure_indexes()
        service = KeyService(catalog.keys, bus)
        # Whoever reaches the catalog and the bus directly is the operator.
        operator = Principal.admin()
        if args.keys_command == "create":
            created = await service.create(
                operator, args.tenant, args.name, args.scopes, expires_in_seconds=args.expires_in
            )
            if args.json:
                output.print_json({**_record(created.info), "key": created.key})
            else:
                print(created.key)
        elif args.keys_command == "list":
            keys = await service.list_keys(operator, args.tenant)
            if args.json:
                output.print_json([_record(key) for key in keys])
            for key in [] if args.json else keys:
                revoked = f"revoked {key.revoked_at.isoformat()}" if key.revoked_at else "active"
                scopes = ",".join(sorted_scopes(key.scopes))
                used = key.last_used_at.isoformat() if key.last_used_at else "never"
                expires = key.expires_at.isoformat() if key.expires_at else "never"
                print(
                    f"{key.id}  {key.tenant}  {key.name}  {scopes}  {key.created_at.isoformat()}  "
                    f"{revoked}  last used {used}  expires {expires}"
                )
        else:
            key = await service.revoke(operator, args.key_id)
            if args.json:
                output.print_json(_record(key))
            else:
                print(f"revoked {key.id} ({key.tenant}/{key.name})")


def _record(key: ApiKeyInfo) -> dict[str, object]:
    """A key's public fields (never its hash): id, tenant, name, scopes, created_at,
    revoked_at, expires_at, last_used_at."""
    return {
        "id": key.id,
        "tenant": key.tenant,
        "name": key.name,
        "scopes": sorted_scopes(key.scopes),
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
    }
