"""schemathesis hooks (loaded through SCHEMATHESIS_HOOKS by tests/e2e/test_openapi.py).

tus PATCH bodies are ``application/offset+octet-stream``: raw bytes, serialized like
``application/octet-stream``.
"""

from __future__ import annotations

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
