"""One structured log line per job outcome, so an operator can follow a photo.

The line is logfmt (``key=value``, values with spaces quoted), e.g.::

    job image=01JB... tenant=acme outcome=ready attempt=1 duration_s=0.412

``grep image=<id>`` over every worker's log gives the whole story of one photo; the same
fields ride on the record as ``extra={"job": {...}}`` for a JSON formatter.
"""

from __future__ import annotations

import logging

log = logging.getLogger("gallery.jobs")

# Outcomes that mean the photo is not done yet log at INFO like the rest; failures at WARNING.
_WARN = frozenset({"failed", "requeued"})


def _value(value: object) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\n'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def log_outcome(
    *,
    image_id: str,
    tenant: str,
    outcome: str,
    attempt: int,
    seconds: float,
    reason: str | None = None,
) -> str:
    """Log and return the line for one job's outcome (``seconds``: wall time of the job)."""
    fields: dict[str, object] = {
        "image": image_id,
        "tenant": tenant,
        "outcome": outcome,
        "attempt": attempt,
        "duration_s": f"{seconds:.3f}",
    }
    if reason:
        fields["reason"] = reason
    line = "job " + " ".join(f"{k}={_value(v)}" for k, v in fields.items())
    level = logging.WARNING if outcome in _WARN else logging.INFO
    log.log(level, line, extra={"job": fields})
    return line
