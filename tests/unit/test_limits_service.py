"""Per-key upload limits on fakes: the rate per minute and the tenant quota, each setting tried."""

from __future__ import annotations

import pytest

from pipeline.domain.errors import QuotaExceeded, RateLimited
from pipeline.domain.models import ImageRecord
from pipeline.runtime.settings import QuotaSettings
from pipeline.services.limits import UploadLimits
from tests.fakes import FakeCatalog, FakeUsageCatalog, key_principal

pytestmark = pytest.mark.unit


def limits(settings: QuotaSettings, clock: list[float]) -> tuple[UploadLimits, FakeCatalog]:
    catalog = FakeCatalog()
    return UploadLimits(FakeUsageCatalog(catalog), settings, clock=lambda: clock[0]), catalog


def image(n: int, size: int, tenant: str = "acme") -> ImageRecord:
    return ImageRecord(
        id=f"img{n}",
        tenant=tenant,
        status="queued",
        sha256=f"{n:064x}",
        content_type="image/jpeg",
        bytes=size,
        width=1,
        height=1,
        original_key=f"o/{n}",
    )


async def test_the_rate_is_per_key_per_minute_and_says_when_to_retry() -> None:
    clock = [600.0 + 45]  # 45 s into a minute window
    service, _ = limits(QuotaSettings(uploads_per_minute=2), clock)
    await service.admit(key_principal("acme", key="key-a"), None)
    await service.admit(key_principal("acme", key="key-a"), None)
    await service.admit(key_principal("acme", key="key-b"), None)  # another key has its own budget
    with pytest.raises(RateLimited) as limited:
        await service.admit(key_principal("acme", key="key-a"), None)
    assert limited.value.http_status == 429
    assert limited.value.retry_after_seconds == 15
    clock[0] += 15  # the next minute
    await service.admit(key_principal("acme", key="key-a"), None)


async def test_zero_means_no_rate_limit() -> None:
    service, _ = limits(QuotaSettings(uploads_per_minute=0), [0.0])
    for _ in range(1000):
        await service.admit(key_principal("acme", key="key"), None)


async def test_the_image_quota_names_itself() -> None:
    service, catalog = limits(QuotaSettings(max_images=2), [0.0])
    for n in range(2):
        await catalog.insert_image(image(n, 10))
    await catalog.insert_image(image(9, 10, tenant="other"))
    with pytest.raises(QuotaExceeded) as refused:
        await service.admit(key_principal("acme", key="key"), 10)
    assert (refused.value.http_status, refused.value.code, refused.value.quota) == (
        403,
        "quota_exceeded",
        "images",
    )
    await service.admit(key_principal("other", key="key2"), 10)


async def test_the_byte_quota_counts_what_is_stored_and_what_comes() -> None:
    service, catalog = limits(QuotaSettings(max_bytes=1000), [0.0])
    await catalog.insert_image(image(1, 600))
    await service.admit(key_principal("acme", key="key"), 400)
    with pytest.raises(QuotaExceeded) as refused:
        await service.admit(key_principal("acme", key="key"), 401)
    assert refused.value.quota == "bytes"
    assert "bytes" in refused.value.public_message
