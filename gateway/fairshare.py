"""Fair shares of one gateway process: what one API key and one tenant may hold at once.

A :class:`Share` counts the holders of one resource (upload slots, event streams) by key,
by tenant and in total. A key or tenant at its own cap gets 429 (``ShareExhausted``, with
``Retry-After``); only the process cap answers 503. With a tenant's cap below the process
cap, one tenant at its limit leaves room for the others. Counts are per process: each
gateway replica grants its own shares (a load balancer spreads a tenant over them).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator

from pipeline.domain.errors import GatewayBusy, ShareExhausted
from pipeline.runtime import metrics

#: Seconds a client told "at your share" waits: slots free as uploads end.
RETRY_AFTER_SECONDS = 2


class Share:
    """``total`` holders of ``resource`` in this process, ``per_tenant`` and ``per_key`` of them
    for one tenant and one key."""

    def __init__(self, resource: str, *, total: int, per_tenant: int, per_key: int) -> None:
        self.resource = resource
        self.total = total
        self.per_tenant = per_tenant
        self.per_key = per_key
        self.in_use = 0
        self._tenants: Counter[str] = Counter()
        self._keys: Counter[str] = Counter()

    def check(self, tenant: str, key_id: str) -> None:
        """Raise ShareExhausted (429) for a key or tenant at its cap, GatewayBusy (503) when
        the process is full; nothing is taken."""
        if self._keys[key_id] >= self.per_key:
            self._refuse("key", f"at most {self.per_key} {self.resource} at once per API key")
        if self._tenants[tenant] >= self.per_tenant:
            self._refuse("tenant", f"at most {self.per_tenant} {self.resource} at once per tenant")
        if self.in_use >= self.total:
            metrics.SHARE_REFUSALS.labels(resource=self.resource, scope="process").inc()
            if self.resource == "uploads":  # as before shares: a full gateway's uploads count
                metrics.UPLOADS.labels(outcome=GatewayBusy.code).inc()
            raise GatewayBusy(
                f"{self.resource} full",
                public_message=f"this gateway serves {self.total} {self.resource}; retry shortly",
            )

    @contextlib.contextmanager
    def take(self, tenant: str, key_id: str) -> Iterator[None]:
        """Hold one unit for the block; raises as :meth:`check`."""
        self.check(tenant, key_id)
        self.in_use += 1
        self._tenants[tenant] += 1
        self._keys[key_id] += 1
        try:
            yield
        finally:
            self.in_use -= 1
            _drop(self._tenants, tenant)
            _drop(self._keys, key_id)

    def held(self, tenant: str) -> int:
        """Units ``tenant`` holds now."""
        return self._tenants[tenant]

    def _refuse(self, scope: str, message: str) -> None:
        metrics.SHARE_REFUSALS.labels(resource=self.resource, scope=scope).inc()
        raise ShareExhausted(
            f"{self.resource}: {scope} share full",
            public_message=message,
            retry_after_seconds=RETRY_AFTER_SECONDS,
        )


def _drop(counter: Counter[str], name: str) -> None:
    """One less for ``name``; a name at zero leaves the counter (it would grow forever)."""
    counter[name] -= 1
    if counter[name] <= 0:
        del counter[name]
