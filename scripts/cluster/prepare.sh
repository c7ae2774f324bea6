#!/usr/bin/env bash
# Everything the cluster tests need before the first test: host packages and config, the
# Kubernetes binaries, the Go programs and every image, each cached (tools cache, podman
# store), so only the first run on a machine pays. Prints what each step took.
# Usage: scripts/cluster/prepare.sh   (root; tox env `cluster` runs it)
# GALLERY_CLUSTER_OPTIONAL lists the optional platform controllers to build (default: all);
# one that does not build is reported here and its tests skip with the reason.
# GALLERY_CLUSTER_TOPOLOGY=seed (the four-node cluster) also needs local-path-provisioner.
set -euo pipefail
cd "$(dirname "$0")/../.."
step() { local s; s=$(date +%s); "$@"; echo "prepare: $* took $(($(date +%s) - s)) s" >&2; }
step scripts/cluster/host-setup.sh
step scripts/tools.sh kustomize
step scripts/cluster/build-k8s.sh >/dev/null
for program in coredns weed prometheus; do step scripts/cluster/build-go.sh "$program" >/dev/null; done
step scripts/cluster/images.sh build
if [[ ${GALLERY_CLUSTER_TOPOLOGY:-single} == seed ]]; then
  step scripts/cluster/build-go.sh local-path-provisioner >/dev/null
  step scripts/cluster/images.sh build local-path-provisioner busybox
fi
declare -A IMAGE=([metallb-controller]=metallb-controller [metallb-speaker]=metallb-speaker
  [keda-operator]=keda [keda-adapter]=keda-adapter [argocd]="argocd argocd-redis")
mkdir -p .tools
: >.tools/cluster-unavailable
for program in ${GALLERY_CLUSTER_OPTIONAL-metallb-controller metallb-speaker keda-operator keda-adapter argocd}; do
  if step scripts/cluster/build-go.sh "$program" >/dev/null 2>.tools/build-$program.log; then
    # shellcheck disable=SC2086 # a list of image names
    [[ -z "${IMAGE[$program]:-}" ]] || step scripts/cluster/images.sh build ${IMAGE[$program]}
  else
    echo "prepare: $program did not build (its tests skip): $(tail -n 3 .tools/build-$program.log | tr '\n' ' ')" >&2
    echo "$program: $(tail -n 3 .tools/build-$program.log | tr '\n' ' ')" >>.tools/cluster-unavailable
  fi
done
