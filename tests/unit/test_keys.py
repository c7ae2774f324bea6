"""API keys through the service on fakes: listing never shows a key; a revocation is stored
and announced to every gateway; revoking twice is one revocation. Through two gateway
processes: ``tests/e2e/test_keys.py``."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from pipeline.domain.access import Principal
from pipeline.domain.errors import InputError, NotFound, Unauthorized
from pipeline.services.keys import KeyService
from tests.fakes import FakeApiKeys, FakeBus

pytestmark = pytest.mark.unit
ADMIN = Principal.admin()


@pytest.fixture
def world() -> tuple[KeyService, FakeApiKeys, FakeBus]:
    keys, bus = FakeApiKeys(), FakeBus()
    return KeyService(keys, bus), keys, bus


async def test_a_listing_names_keys_by_id_and_never_shows_one(
    world: tuple[KeyService, FakeApiKeys, FakeBus],
) -> None:
    service, _, _ = world
    made = [await service.create(ADMIN, "alice", "laptop"), await service.create(ADMIN, "bob")]
    listed = await service.list_keys(ADMIN, "alice")
    assert [(k.id, k.name, k.revoked_at) for k in listed] == [(made[0].info.id, "laptop", None)]
    everything = await service.list_keys(ADMIN)
    assert all(m.key not in repr(k) for m in made for k in everything)
    assert len(made[0].info.id) == 16


async def test_revoking_stores_it_and_tells_every_gateway_once(
    world: tuple[KeyService, FakeApiKeys, FakeBus],
) -> None:
    service, _, bus = world
    made = await service.create(ADMIN, "alice")
    first = await service.revoke(ADMIN, made.info.id)
    again = await service.revoke(ADMIN, made.info.id)
    assert first.revoked_at is not None
    assert again.revoked_at == first.revoked_at, "the first revocation time stays"
    assert bus.revoked == [made.info.key_hash, made.info.key_hash]


async def test_unknown_ids_and_bad_labels_are_refused(
    world: tuple[KeyService, FakeApiKeys, FakeBus],
) -> None:
    service, keys, bus = world
    with pytest.raises(NotFound):
        await service.revoke(ADMIN, "0123456789abcdef")
    for tenant, name in [("", "x"), ("alice", " "), (None, "x"), ("alice", 7)]:
        with pytest.raises(InputError):
            await service.create(ADMIN, tenant, name)
    assert keys.keys == {}
    assert bus.revoked == []


async def test_a_key_with_scopes_and_a_lifetime_authenticates_until_it_expires(
    world: tuple[KeyService, FakeApiKeys, FakeBus],
) -> None:
    service, keys, _ = world
    made = await service.create(ADMIN, "alice", "frame", ["read"], expires_in_seconds=3600)
    assert made.info.expires_at is not None
    assert made.info.last_used_at is None
    who = await service.authenticate(made.info.key_hash)
    assert (who.tenant, who.id, who.scopes) == ("alice", made.info.key_hash, {"read"})
    (listed,) = await service.list_keys(ADMIN, "alice")
    assert listed.last_used_at is not None, "the lookup is the key's last use"
    expired = replace(listed, expires_at=listed.created_at - timedelta(seconds=1))
    keys.keys[made.info.key_hash] = expired
    with pytest.raises(Unauthorized):
        await service.authenticate(made.info.key_hash)
