"""schemathesis hooks for tests/integration/test_openapi.py (loaded via SCHEMATHESIS_HOOKS).

tus PATCH bodies are ``application/offset+octet-stream`` (tus 1.0, "PATCH"): raw bytes,
sent as schemathesis sends ``application/octet-stream``.
"""

from __future__ import annotations

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
