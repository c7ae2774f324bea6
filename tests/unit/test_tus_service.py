"""Resumable uploads through the upload service, on in-memory fakes of the backends.

What a tus client would notice: PATCHes in any sizes end in one image with the bytes' SHA-256
(same de-duplication as a plain upload), a wrong offset or checksum changes nothing, a
non-image is refused on its first bytes, an expired or terminated upload leaves nothing in
the store. The same flows run through the gateway on real servers in tests/integration.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from pipeline.domain.errors import (
    ChecksumMismatch,
    ImageTooLarge,
    NotFound,
    OffsetMismatch,
    UndecodableImage,
    UnsupportedMediaType,
    UploadExpired,
    UploadInterrupted,
    UploadLocked,
    UploadTooLarge,
)
from pipeline.domain.messages import utcnow
from pipeline.domain.uploads import UploadRecord
from pipeline.runtime.settings import LimitsSettings, TusSettings
from pipeline.services.ingest import BodyOpener, IngestService
from pipeline.services.tus import UploadService
from pipeline.services.tus_writer import MIN_PART_BYTES
from tests.fakes import FakeBus, FakeCatalog, FakeObjectStore, FakeUploadCatalog, key_principal
from tests.images import (
    jpeg_bomb_header_bytes,
    jpeg_bytes,
    jpeg_with_big_header,
    truncated_jpeg_bytes,
)

pytestmark = pytest.mark.unit
TENANT = "acme"
WHO = key_principal(TENANT)
MiB = 1024 * 1024


class World:
    def __init__(
        self, limits: LimitsSettings | None = None, tus: TusSettings | None = None
    ) -> None:
        self.catalog = FakeCatalog()
        self.uploads = FakeUploadCatalog()
        self.store = FakeObjectStore()
        self.bus = FakeBus()
        self.now = utcnow()
        limits = limits or LimitsSettings()
        ingest = IngestService(self.catalog, self.store, self.bus, limits)
        self.service = UploadService(
            self.uploads,
            self.store,
            ingest,
            limits,
            tus or TusSettings(part_bytes=MIN_PART_BYTES, expire_seconds=3600),
            clock=lambda: self.now,
        )

    async def patch(
        self,
        record: UploadRecord,
        data: bytes,
        *,
        offset: int | None = None,
        checksum: bytes | None = None,
    ) -> UploadRecord:
        at = record.offset if offset is None else offset
        return await self.service.append(
            WHO, record.id, offset=at, chunks=chunks(data), checksum=checksum
        )


async def chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def photo(total: int) -> bytes:
    """A real JPEG header, padded with noise to ``total`` bytes (the gate reads the header)."""
    head = jpeg_bytes(320, 240, seed=3)
    return head + os.urandom(total - len(head))


@pytest.fixture
def world() -> World:
    return World()


async def test_patches_of_any_size_become_one_image_with_the_bytes_sha256(world: World) -> None:
    data = photo(12 * MiB + 12345)
    record = await world.service.create(WHO, len(data), filename="big.jpg")
    # 1 MiB (a tail), 7 MiB (a part of 5 MiB, a 3 MiB tail), the rest (completes it).
    for end in (1 * MiB, 8 * MiB, len(data)):
        record = await world.patch(record, data[record.offset : end])
        assert record.offset == end
    assert record.state == "complete"
    assert not record.duplicate
    image = world.catalog.images[record.image_id]
    assert (image.sha256, image.bytes, image.filename) == (
        hashlib.sha256(data).hexdigest(),
        len(data),
        "big.jpg",
    )
    assert world.store.objects[image.original_key][0] == data
    assert list(world.store.objects) == [image.original_key], "tails removed"
    assert [j.image_id for j in world.bus.jobs] == [image.id]


async def test_a_small_upload_is_one_object_and_a_repeat_is_the_same_image(world: World) -> None:
    data = jpeg_bytes(200, 100)
    first = await world.service.create(WHO, len(data))
    first = await world.patch(first, data)
    plain = await IngestService(world.catalog, world.store, world.bus, LimitsSettings()).ingest(
        TENANT, _opener(data)
    )
    assert plain.duplicate
    assert plain.record.id == first.image_id
    again = await world.service.create(WHO, len(data))
    again = await world.patch(again, data)
    assert (again.image_id, again.duplicate) == (first.image_id, True)
    assert len(world.store.objects) == 1, "the duplicate's assembled copy is removed"


def _opener(data: bytes) -> BodyOpener:
    async def open_body() -> tuple[AsyncIterator[bytes], str | None]:
        return chunks(data), None

    return open_body


async def test_a_wrong_offset_is_a_conflict_and_changes_nothing(world: World) -> None:
    data = photo(2 * MiB)
    record = await world.patch(await world.service.create(WHO, len(data)), data[:MiB])
    with pytest.raises(OffsetMismatch):
        await world.patch(record, data[MiB:], offset=100)
    assert (await world.service.get(WHO, record.id)).offset == MiB


async def test_a_wrong_checksum_discards_the_patch_and_a_right_one_is_kept(world: World) -> None:
    data = photo(7 * MiB)
    record = await world.patch(await world.service.create(WHO, len(data)), data[:MiB])
    tail_before = set(world.store.objects)
    piece = data[MiB : 6 * MiB + 10]  # would make a part and a new tail
    with pytest.raises(ChecksumMismatch):
        await world.patch(record, piece, checksum=hashlib.sha256(b"other").digest())
    assert (await world.service.get(WHO, record.id)).offset == MiB
    assert set(world.store.objects) == tail_before, "no new tail, the old one intact"
    assert world.store.multipart == {}, "the multipart upload the PATCH started is aborted"
    record = await world.patch(record, piece, checksum=hashlib.sha256(piece).digest())
    assert record.offset == 6 * MiB + 10


async def test_a_non_image_is_refused_on_its_first_bytes(world: World) -> None:
    data = b"%PDF-1.7\n" + os.urandom(3 * MiB)
    record = await world.service.create(WHO, len(data))
    with pytest.raises(UnsupportedMediaType):
        await world.patch(record, data[: 2 * MiB])
    with pytest.raises(NotFound):
        await world.service.get(WHO, record.id)
    assert world.store.objects == {}


async def test_a_bomb_header_is_refused_before_the_rest_arrives(world: World) -> None:
    bomb = jpeg_bomb_header_bytes()
    data = bomb + os.urandom(2 * MiB)
    record = await world.service.create(WHO, len(data))
    with pytest.raises(ImageTooLarge):
        await world.patch(record, data[: len(bomb) + 100])


async def test_a_header_beyond_the_first_patch_is_found_on_completion(world: World) -> None:
    # 2 MiB of metadata before the size header: the first PATCH shows none of it, and that
    # is no reason to refuse a valid photo.
    data = jpeg_with_big_header(320, 240, padding=2 * MiB)
    record = await world.service.create(WHO, len(data))
    record = await world.patch(record, data[:MiB])
    record = await world.patch(record, data[MiB:])
    assert record.state == "complete"
    image = world.catalog.images[record.image_id]
    assert (image.width, image.height) == (320, 240)


async def test_the_full_gate_runs_on_completion(world: World) -> None:
    data = truncated_jpeg_bytes(keep=0.01)[:300]  # a header too short to read, whole file
    record = await world.service.create(WHO, len(data))
    with pytest.raises(UndecodableImage):
        await world.patch(record, data)
    assert world.store.objects == {}
    assert world.catalog.images == {}


async def test_a_body_cut_short_keeps_what_arrived_unless_it_had_a_checksum(world: World) -> None:
    data = photo(3 * MiB)

    async def cut(upto: int) -> AsyncIterator[bytes]:
        async for chunk in chunks(data[:upto]):
            yield chunk
        raise UploadInterrupted("client went away")

    record = await world.service.create(WHO, len(data))
    record = await world.service.append(WHO, record.id, offset=0, chunks=cut(MiB))
    assert record.offset == MiB
    with pytest.raises(UploadInterrupted):
        await world.service.append(
            WHO, record.id, offset=MiB, chunks=cut(2 * MiB), checksum=b"x" * 32
        )
    assert (await world.service.get(WHO, record.id)).offset == MiB


async def test_a_patch_past_the_length_is_refused(world: World) -> None:
    data = photo(MiB)
    record = await world.service.create(WHO, len(data) - 10)
    with pytest.raises(UploadTooLarge):
        await world.patch(record, data)


async def test_the_expect_checks_read_the_stored_state_and_change_nothing(world: World) -> None:
    data = photo(2 * MiB)
    record = await world.patch(await world.service.create(WHO, len(data)), data[:MiB])
    await world.service.check_append(WHO, record.id, MiB)  # where it stands: taken
    with pytest.raises(OffsetMismatch):
        await world.service.check_append(WHO, record.id, 0)
    with pytest.raises(NotFound):
        await world.service.check_append(key_principal("someone-else"), record.id, MiB)
    with pytest.raises(UploadTooLarge):
        world.service.check_length(LimitsSettings().largest_upload_bytes + 1)
    assert (await world.service.get(WHO, record.id)).offset == MiB
    world.now += timedelta(hours=2)
    with pytest.raises(UploadExpired):
        await world.service.check_append(WHO, record.id, MiB)


async def test_a_second_writer_is_told_the_upload_is_locked(world: World) -> None:
    data = photo(2 * MiB)
    record = await world.service.create(WHO, len(data))
    until = world.now + timedelta(seconds=60)
    await world.uploads.lock_upload(
        TENANT, record.id, offset=0, token="t", until=until, now=world.now
    )
    with pytest.raises(UploadLocked):
        await world.patch(record, data)
    world.now = until + timedelta(seconds=1)  # a crashed writer's lease lapses
    assert (await world.patch(record, data[:MiB])).offset == MiB


async def test_expired_uploads_are_refused_then_removed_with_their_objects(world: World) -> None:
    data = photo(8 * MiB)
    record = await world.patch(await world.service.create(WHO, len(data)), data[: 6 * MiB])
    assert world.store.multipart
    assert world.store.objects
    world.now += timedelta(hours=2)
    with pytest.raises(UploadExpired):
        await world.service.get(WHO, record.id)
    assert await world.service.expire() == 1
    assert world.store.multipart == {}
    assert world.store.objects == {}
    with pytest.raises(NotFound):
        await world.service.get(WHO, record.id)


async def test_a_sweep_removes_expired_uploads_in_batches_up_to_its_most() -> None:
    tus = TusSettings(expire_seconds=3600, sweep_batch=2, sweep_max_per_pass=5)
    world = World(tus=tus)
    for _ in range(7):
        await world.service.create(WHO, MiB)
    world.now += timedelta(hours=2)
    assert await world.service.expire() == 5, "three batches (2, 2, 1), then the most"
    assert await world.service.expire() == 2, "the next sweep takes the rest"
    assert await world.service.expire() == 0


async def test_termination_removes_the_upload_but_never_its_image(world: World) -> None:
    data = photo(6 * MiB)
    open_one = await world.patch(await world.service.create(WHO, len(data)), data[: 5 * MiB])
    await world.service.terminate(WHO, open_one.id)
    assert world.store.multipart == {}
    assert world.store.objects == {}
    small = jpeg_bytes(100, 80)
    done = await world.patch(await world.service.create(WHO, len(small)), small)
    await world.service.terminate(WHO, done.id)
    assert done.image_id in world.catalog.images
    assert len(world.store.objects) == 1
    with pytest.raises(NotFound):
        await world.service.terminate(key_principal("someone-else"), done.id)


async def test_an_upload_is_invisible_to_another_tenant(world: World) -> None:
    record = await world.service.create(WHO, 100)
    with pytest.raises(NotFound):
        await world.service.get(key_principal("other"), record.id)
