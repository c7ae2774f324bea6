"""The NACK Consumer manifests of ``deploy/``, written from the job registry.

``deploy/kustomize/components/nats/consumers.yaml`` is this module's output for the settings of
the base ConfigMap (``python -m pipeline.jobs.manifests > deploy/.../consumers.yaml``, or
``make manifests``); ``tests/deploy`` checks the file byte for byte against it, so a lane, a
limit or a retry setting changes in one place.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from pipeline.jobs.registry import Lane, job_lanes
from pipeline.runtime.settings import Settings

CONSUMERS_FILE = "deploy/kustomize/components/nats/consumers.yaml"
# Each overlay's replacement rewrites the namespace in this address.
SERVERS = '["nats://nats.gallery.svc.cluster.local:4222"]'
HEADER = """\
# GENERATED from pipeline/jobs/registry.py by `make manifests`: do not edit (tests/deploy).
# The JetStream pull consumers, one per job lane, declared through NACK (jetstream.nats.io/v1beta2).
# Sync wave 2: after the streams (1), before the ScaledObject (3) asks KEDA for the render lag.
"""


def _seconds(value: float) -> str:
    """A Go duration as NACK reads it (``30s``, ``1.5s``)."""
    return f"{value:g}s"


def consumer_manifest(lane: Lane[Any]) -> str:
    """One NACK Consumer document for ``lane``."""
    return f"""\
apiVersion: jetstream.nats.io/v1beta2
kind: Consumer
metadata:
  name: gallery-{lane.name}
  annotations:
    argocd.argoproj.io/sync-wave: "2"
spec:
  streamName: {lane.stream}
  durableName: {lane.consumer}
  description: {lane.description}
  filterSubject: {lane.subject}
  deliverPolicy: all
  ackPolicy: explicit
  ackWait: {_seconds(lane.ack_wait_seconds)}
  maxDeliver: {lane.max_deliver}
  maxAckPending: {lane.max_ack_pending}
  replayPolicy: instant
  servers: {SERVERS}
"""


def consumers_yaml(lanes: Sequence[Lane[Any]]) -> str:
    """The whole consumers file for ``lanes``."""
    return HEADER + "---\n".join(consumer_manifest(lane) for lane in lanes)


def main() -> None:
    """Print the file for the settings in the environment (the base ConfigMap's values)."""
    sys.stdout.write(consumers_yaml(job_lanes(Settings())))


if __name__ == "__main__":
    main()
