"""A tenant's view of the gateway running in the cluster (plain HTTP through its Service)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tests.cluster.kube import wait_for
from tests.images import jpeg_bytes


@dataclass
class Gallery:
    url: str
    key: str
    timeout: float = 30.0
    uploaded: dict[str, float] = field(default_factory=dict)

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> tuple[int, bytes, str]:
        target = path if path.startswith("http") else f"{self.url}{path}"
        headers = {"Authorization": f"Bearer {self.key}"}
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(target, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                return response.status, response.read(), response.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), exc.headers.get_content_type()

    def upload(self, body: bytes) -> dict[str, Any]:
        """POST /v1/images; retries 503 (busy) within the timeout. Returns the image document."""

        def attempt() -> dict[str, Any] | None:
            status, payload, _ = self.request("POST", "/v1/images", body, "image/jpeg")
            if status == 503:
                return None
            assert status in (200, 202), (status, payload[:300])
            doc: dict[str, Any] = json.loads(payload)
            return doc

        doc = wait_for("the gateway to accept an upload", attempt, timeout=120, every=1)
        self.uploaded.setdefault(doc["id"], time.monotonic())
        return doc

    def upload_photos(
        self, count: int, *, seed: int, width: int = 2400, height: int = 1600, parallel: int = 4
    ) -> list[str]:
        """``count`` distinct camera-like JPEGs (EXIF, every third rotated), made first and then
        sent ``parallel`` at a time, so the workers face a real backlog; their image ids."""
        photos = [
            jpeg_bytes(
                width, height, seed=seed + i, camera=True, orientation=6 if i % 3 == 0 else 1
            )
            for i in range(count)
        ]
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            return [doc["id"] for doc in pool.map(self.upload, photos)]

    def image(self, image_id: str) -> dict[str, Any]:
        status, payload, _ = self.request("GET", f"/v1/images/{image_id}")
        assert status == 200, (status, payload[:300])
        doc: dict[str, Any] = json.loads(payload)
        return doc

    def statuses(self, ids: list[str]) -> dict[str, str]:
        return {image_id: self.image(image_id)["status"] for image_id in ids}

    def wait_all_ready(self, ids: list[str], timeout: float) -> dict[str, float]:
        """Wait until every image is ``ready``; fails at once if one ends ``failed``.

        Returns upload-to-ready seconds per image as seen by this client (polling, so an
        upper bound by about a second).
        """
        ready_after: dict[str, float] = {}

        def all_ready() -> bool:
            for image_id in ids:
                if image_id in ready_after:
                    continue
                doc = self.image(image_id)
                assert doc["status"] != "failed", doc
                if doc["status"] == "ready":
                    ready_after[image_id] = time.monotonic() - self.uploaded.get(image_id, 0.0)
            return len(ready_after) == len(ids)

        try:
            wait_for(f"{len(ids)} images to be ready", all_ready, timeout=timeout, every=1)
        except AssertionError as exc:
            pending = {i: s for i, s in self.statuses(ids).items() if s != "ready"}
            raise AssertionError(f"{exc}; not ready: {pending}") from None
        return ready_after

    def rendition(self, doc: dict[str, Any], name: str) -> tuple[bytes, str]:
        status, body, content_type = self.request("GET", doc["renditions"][name]["url"])
        assert status == 200, (status, body[:200])
        return body, content_type
