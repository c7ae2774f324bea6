"""Share links through the service on fakes: making one (scope, target, expiry bounds),
opening it by token (unknown, expired, revoked alike), revocation told to every gateway,
use counts, and the per-link and per-address rates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from pydantic import ValidationError

from pipeline.domain.albums import AlbumRecord
from pipeline.domain.errors import Forbidden, InputError, NotFound, RateLimited
from pipeline.domain.messages import utcnow
from pipeline.domain.models import ImageRecord, new_image_id
from pipeline.domain.shares import TOKEN_PREFIX, hash_share_token
from pipeline.runtime.settings import ShareSettings
from pipeline.services.images import ImageQueries
from pipeline.services.shares import ShareService
from tests.fakes import (
    FakeAlbums,
    FakeBus,
    FakeCatalog,
    FakeObjectStore,
    FakeShares,
    FakeUsageCatalog,
    key_principal,
)

pytestmark = pytest.mark.unit
OWNER = key_principal("acme")


@dataclass
class World:
    catalog: FakeCatalog
    albums: FakeAlbums
    shares: FakeShares
    bus: FakeBus
    clock: list[float]

    def service(self, **settings: int) -> ShareService:
        return ShareService(
            self.shares,
            self.catalog,
            self.albums,
            FakeUsageCatalog(self.catalog),
            self.bus,
            settings=ShareSettings(**settings),
            clock=lambda: self.clock[0],
        )

    def album(self, tenant: str = "acme") -> str:
        record = AlbumRecord(id=new_image_id(), tenant=tenant, name="Family")
        self.albums.albums[record.id] = record
        return record.id

    def image(self, tenant: str = "acme") -> str:
        image_id = new_image_id()
        self.catalog.images[image_id] = ImageRecord(
            id=image_id,
            tenant=tenant,
            status="ready",
            sha256=image_id,
            content_type="image/jpeg",
            bytes=1,
            width=1,
            height=1,
            original_key=f"originals/{tenant}/{image_id}",
        )
        return image_id


@pytest.fixture
def world() -> World:
    catalog = FakeCatalog()
    return World(catalog, FakeAlbums(catalog), FakeShares(), FakeBus(), [600.0])


async def test_a_link_is_a_long_random_token_stored_only_as_its_hash(world: World) -> None:
    album = world.album()
    made = await world.service().create(OWNER, album_id=album, expires_in_seconds=3600.0)
    assert made.token.startswith(TOKEN_PREFIX)
    assert len(made.token) - len(TOKEN_PREFIX) >= 43, "at least 256 bits, base64url"
    stored = world.shares.shares[made.record.id]
    assert made.token not in repr(stored), "only the hash is kept"
    assert stored.token_hash == hash_share_token(made.token)
    lifetime = stored.expires_at - stored.created_at
    assert timedelta(seconds=3599) < lifetime <= timedelta(seconds=3601)
    other = await world.service().create(OWNER, album_id=album)
    assert other.token != made.token
    default = other.record.expires_at - other.record.created_at
    assert default.total_seconds() == pytest.approx(ShareSettings().default_expiry_seconds, abs=2)


async def test_bad_requests_name_the_field_and_store_nothing(world: World) -> None:
    with pytest.raises(ValidationError, match="default_expiry_seconds"):
        ShareSettings(default_expiry_seconds=7201, max_expiry_seconds=7200)
    service = world.service(default_expiry_seconds=3600, max_expiry_seconds=7200)
    album, image = world.album(), world.image()
    asks: list[tuple[dict[str, object], str]] = [
        ({}, "album_id"),
        ({"album_id": album, "image_id": image}, "album_id"),
        ({"album_id": 7}, "album_id"),
        ({"album_id": album, "expires_in_seconds": 7201}, "expires_in_seconds"),
        ({"album_id": album, "expires_in_seconds": 10}, "expires_in_seconds"),
        ({"album_id": album, "expires_in_seconds": "3600"}, "expires_in_seconds"),
        ({"album_id": album, "allow_download": "yes"}, "allow_download"),
    ]
    for ask, field in asks:
        with pytest.raises(InputError) as refused:
            await service.create(OWNER, **ask)  # type: ignore[arg-type]
        assert field in refused.value.public_message, ask
    for ask_missing in ({"album_id": "nope"}, {"image_id": world.image("bob")}):
        with pytest.raises(NotFound):
            await service.create(OWNER, **ask_missing)  # type: ignore[arg-type]
    with pytest.raises(Forbidden):
        await service.create(key_principal("acme", "read", "upload"), album_id=album)
    assert world.shares.shares == {}


async def test_a_token_opens_its_link_until_revoked_and_every_gateway_hears_it(
    world: World,
) -> None:
    service, album = world.service(), world.album()
    made = await service.create(OWNER, album_id=album, allow_download=True)
    who = await service.open(hash_share_token(made.token))
    assert (who.kind, who.tenant, who.share and who.share.album_id) == ("share", "acme", album)
    for guess in (made.token + "x", made.token[:-1], TOKEN_PREFIX):
        with pytest.raises(NotFound):
            await service.open(hash_share_token(guess))
    with pytest.raises(NotFound):
        await service.revoke(key_principal("bob"), made.record.id)  # not bob's
    revoked = await service.revoke(OWNER, made.record.id)
    assert revoked.revoked_at is not None
    assert world.bus.revoked == [made.record.token_hash]
    with pytest.raises(NotFound) as gone:
        await service.open(hash_share_token(made.token))
    assert "revoked" in gone.value.public_message


async def test_an_expired_link_opens_nothing_even_from_a_cache(world: World) -> None:
    service, image = world.service(), world.image()
    made = await service.create(OWNER, image_id=image, expires_in_seconds=60)
    who = await service.open(hash_share_token(made.token))
    queries = ImageQueries(world.catalog, world.albums, FakeObjectStore())
    assert (await queries.get(who, image)).id == image
    expired = made.record.model_copy(update={"expires_at": utcnow() - timedelta(seconds=1)})
    world.shares.shares[made.record.id] = expired
    with pytest.raises(NotFound):
        await service.open(hash_share_token(made.token))
    # A principal cached before the expiry is refused by the policy all the same.
    grant = who.share
    assert grant is not None
    stale = type(who).link(type(grant)(**{**grant.__dict__, "expires_at": expired.expires_at}))
    with pytest.raises(NotFound):
        await queries.get(stale, image)


async def test_links_are_listed_with_their_use_counts(world: World) -> None:
    service = world.service()
    first = await service.create(OWNER, album_id=world.album())
    second = await service.create(OWNER, image_id=world.image())
    await service.create(key_principal("bob"), album_id=world.album("bob"))
    who = await service.open(hash_share_token(first.token))
    for _ in range(3):
        await service.count_use(who)
    listed = await service.page(OWNER, limit=10, before=None)
    assert [(s.id, s.uses) for s in listed] == [(second.record.id, 0), (first.record.id, 3)]
    with pytest.raises(Forbidden):
        await service.page(key_principal("acme", "read"), limit=10, before=None)


async def test_requests_are_limited_per_link_and_per_address(world: World) -> None:
    service = world.service(requests_per_minute=3, address_requests_per_minute=4)
    a = await service.open(
        hash_share_token((await service.create(OWNER, album_id=world.album())).token)
    )
    b = await service.open(
        hash_share_token((await service.create(OWNER, album_id=world.album())).token)
    )
    for _ in range(3):
        await service.admit(a)
    with pytest.raises(RateLimited) as limited:
        await service.admit(a)  # the link's own budget is spent
    assert limited.value.http_status == 429
    await service.admit(b)  # another link has its own
    for _ in range(4):
        await service.admit_address("10.0.0.1")
    with pytest.raises(RateLimited):
        await service.admit_address("10.0.0.1")  # the fifth is over the address's budget
    await service.admit_address("10.0.0.2")
    world.clock[0] += 60
    await service.admit(a)  # a new minute
    await service.admit_address("10.0.0.1")
