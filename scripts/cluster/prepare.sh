#!/usr/bin/env bash
# Everything the cluster tests need before the first test: host packages and config, the
# Kubernetes binaries, the Go programs and every image, each cached (tools cache, podman
# store), so only the first run on a machine pays. Prints what each step took.
# Usage: scripts/cluster/prepare.sh   (root; tox env `cluster` runs it)
set -euo pipefail
cd "$(dirname "$0")/../.."
step() { local s; s=$(date +%s); "$@"; echo "prepare: $* took $(($(date +%s) - s)) s" >&2; }
step scripts/cluster/host-setup.sh
step scripts/tools.sh kustomize
step scripts/cluster/build-k8s.sh >/dev/null
for program in weed prometheus; do step scripts/cluster/build-go.sh "$program" >/dev/null; done
# Optional platform controllers: a failure to build is reported and their tests skip.
for program in ${GALLERY_CLUSTER_OPTIONAL:-metallb-controller metallb-speaker keda-operator keda-adapter}; do
  step scripts/cluster/build-go.sh "$program" >/dev/null || echo "prepare: $program did not build (its tests skip)" >&2
done
step scripts/cluster/images.sh build
