"""Reconcile: make the object store and the catalog agree again.

Two kinds of mess, each fixed (or, with ``dry_run``, only counted):

- **objects without a document** under ``originals/`` and ``renditions/`` (a delete whose
  cleanup could not run, a crash between storing and recording): deleted. ``uploads/`` and
  the keys open resumable uploads will complete into are never touched.
- **documents without their objects**: an image whose original is gone is marked
  ``failed`` with the reason; a ready image whose renditions are gone is rendered again
  (a ``reconcile`` job on the backfill lane).
- **counters that drifted** from the images (a process killed between writing an image and
  counting it): each tenant's usage, listing sequence and album counts are counted during
  the walk and set right when they differ. A counter is only set if it did not move while
  its tenant was walked (an upload or delete ran: ``skipped_busy_counters``, a later pass
  repairs it), so a repair never undoes a concurrent count.

Nothing younger than ``min_age`` is touched (by the object's last-modified time, the
document's ``updated_at``): uploads and renders in flight are safe.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline.domain import names
from pipeline.domain.messages import utcnow
from pipeline.domain.models import ImageRecord, TenantCounts, WalkPosition
from pipeline.domain.objects import ObjectStore, StoredObject
from pipeline.runtime.settings import ReconcileSettings
from pipeline.services.ports import Bus, ImageScan, UploadCatalog
from pipeline.services.walk import Progress, WalkState, walk_images

log = logging.getLogger(__name__)
MISSING_ORIGINAL = "original object is missing from the store (found by reconcile)"

#: The counts a report carries, in the order the CLI prints them.
KINDS = (
    "orphan_originals",
    "orphan_renditions",
    "missing_originals",
    "missing_renditions",
    "drifted_counters",
    "skipped_young",
    "skipped_busy_counters",
    "skipped_open_uploads",
)


@dataclass
class ReconcileReport:
    """Counts per kind (see :data:`KINDS`); ``dry_run``: nothing was changed."""

    dry_run: bool
    counts: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, int]:
        return {kind: self.counts[kind] for kind in KINDS}


class ReconcileService:
    def __init__(
        self,
        catalog: ImageScan,
        uploads: UploadCatalog,
        store: ObjectStore,
        bus: Bus,
        settings: ReconcileSettings,
        *,
        now: Callable[[], datetime] = utcnow,
        progress: Progress = lambda walked, total: None,
    ) -> None:
        self._catalog = catalog
        self._uploads = uploads
        self._store = store
        self._bus = bus
        self._min_age = timedelta(seconds=settings.min_age_seconds)
        self._batch, self._pause = settings.batch_size, settings.batch_pause_seconds
        self._now = now
        self._progress = progress

    async def run(
        self,
        *,
        dry_run: bool = False,
        after: WalkPosition | None = None,
        state: WalkState | None = None,
    ) -> ReconcileReport:
        """One pass over store and catalog. Raises DependencyError when a backend fails
        (what was fixed before stays fixed; ``state`` says where the walk stood).

        ``after``: resume a walk that stopped there. Documents and counters are checked
        from there on; orphan objects are not (only a whole walk knows every key in use).
        """
        report = ReconcileReport(dry_run)
        cutoff = self._now() - self._min_age
        # Objects first: an object stored after this listing is younger than the cutoff.
        objects = await self._objects()
        referenced: set[str] = set()
        tally = _Tally(self._catalog, report)
        walk = walk_images(
            self._catalog,
            batch=self._batch,
            pause=self._pause,
            progress=self._progress,
            tenant_start=tally.start,
            after=after,
            state=state,
        )
        async for record in walk:
            referenced.add(record.original_key)
            referenced.update(r.key for r in record.renditions.values())
            tally.counted.add(record)
            await self._check_document(record, objects, cutoff, report)
        await tally.finish()
        if after is None:
            await self._check_orphans(objects, referenced, cutoff, report)
        else:
            log.info("reconcile: resumed after %s, orphan objects not checked", after)
        log.info("reconcile%s: %s", " (dry run)" if dry_run else "", report.as_dict())
        return report

    async def _check_orphans(
        self,
        objects: dict[str, StoredObject],
        referenced: set[str],
        cutoff: datetime,
        report: ReconcileReport,
    ) -> None:
        open_keys = await self._uploads.open_upload_keys()
        for obj in objects.values():
            if obj.key not in referenced:
                await self._check_orphan(obj, open_keys, cutoff, report)

    async def _objects(self) -> dict[str, StoredObject]:
        listed: dict[str, StoredObject] = {}
        for root in (names.ORIGINALS_ROOT, names.RENDITIONS_ROOT):
            listed.update((o.key, o) for o in await self._store.list_objects(root))
        return listed

    async def _check_document(
        self,
        record: ImageRecord,
        objects: dict[str, StoredObject],
        cutoff: datetime,
        report: ReconcileReport,
    ) -> None:
        if record.status == "failed":
            return  # nothing is expected of it; a redrive finds the original if it is there
        if record.original_key not in objects:
            kind = "missing_originals"
        elif record.status == "ready" and any(
            r.key not in objects for r in record.renditions.values()
        ):
            kind = "missing_renditions"
        else:
            return
        if record.updated_at > cutoff:
            report.counts["skipped_young"] += 1
            return
        if not report.dry_run and not await self._fix_document(record, kind):
            return  # it changed meanwhile: not this run's business
        report.counts[kind] += 1

    async def _fix_document(self, record: ImageRecord, kind: str) -> bool:
        if kind == "missing_originals":
            failed = await self._catalog.fail_lost(
                record.tenant, record.id, MISSING_ORIGINAL, unchanged_since=record.updated_at
            )
            return failed is not None
        await self._bus.publish_job(record.render_job("reconcile"))
        return True

    async def _check_orphan(
        self,
        obj: StoredObject,
        open_keys: set[str],
        cutoff: datetime,
        report: ReconcileReport,
    ) -> None:
        if obj.key in open_keys:
            report.counts["skipped_open_uploads"] += 1
            return
        if obj.modified > cutoff:
            report.counts["skipped_young"] += 1
            return
        if not report.dry_run:
            await self._store.delete(obj.key)
        kind = (
            "orphan_originals" if obj.key.startswith(names.ORIGINALS_ROOT) else "orphan_renditions"
        )
        report.counts[kind] += 1


class _Tally:
    """Counts each tenant's images during the walk and repairs its counters at its end."""

    def __init__(self, catalog: ImageScan, report: ReconcileReport) -> None:
        self._catalog, self._report = catalog, report
        self._tenant: str | None = None
        self._seen = TenantCounts()
        self.counted = TenantCounts()

    async def start(self, tenant: str) -> None:
        """Before ``tenant``'s first image: the previous tenant is done; read the counters
        as they are now (a repair only applies where they still hold these values)."""
        await self.finish()
        self._tenant = tenant
        self._seen = await self._catalog.tenant_counts(tenant)
        self.counted = TenantCounts()

    async def finish(self) -> None:
        if self._tenant is None:
            return
        tenant, seen, counted = self._tenant, self._seen, self.counted
        self._tenant = None
        drifted = _drifted(seen, counted)
        if not drifted:
            return
        log.warning("reconcile: counters of tenant %s drifted: %s", tenant, ", ".join(drifted))
        busy = (
            0 if self._report.dry_run else await self._catalog.repair_counts(tenant, seen, counted)
        )
        self._report.counts["drifted_counters"] += len(drifted) - busy
        self._report.counts["skipped_busy_counters"] += busy


def _drifted(seen: TenantCounts, counted: TenantCounts) -> list[str]:
    """Names of the counters in ``seen`` that differ from ``counted`` (usage counts as one;
    a sequence above every image's is right: deleted images leave their numbers unused)."""
    drifted = []
    if (seen.images, seen.bytes) != (counted.images, counted.bytes) or seen.seq < counted.seq:
        drifted.append("usage")
    drifted += [
        f"album {album}"
        for album, had in sorted(seen.albums.items())
        if had != counted.albums.get(album, 0)
    ]
    return drifted
