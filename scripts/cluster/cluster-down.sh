#!/usr/bin/env bash
# Stops what cluster-up.sh started (by the PIDs it recorded, never by name), removes the pod
# containers, kube-proxy's rules, the kubelet's mounts and the state directory. Safe to run
# twice or after a half-finished cluster-up. Usage: scripts/cluster/cluster-down.sh STATEDIR
set -uo pipefail
cd "$(dirname "$0")/../.."
# GALLERY_CLUSTER_TOPOLOGY=seed: the seed's four machines instead (scripts/cluster/seed-down.sh).
[[ ${GALLERY_CLUSTER_TOPOLOGY:-single} != seed ]] || exec scripts/cluster/seed-down.sh "$@"
source scripts/cluster/common.sh
S=${1:?statedir}
[[ -d "$S" ]] || exit 0
S=$(cd "$S" && pwd)
B=$(scripts/cluster/build-k8s.sh kubectl kube-proxy 2>/dev/null | tail -n 1)
export KUBECONFIG="$S/kubeconfig"

stop() {  # name, seconds to wait after SIGTERM before SIGKILL
  local pid
  [[ -f "$S/$1.pid" ]] || return 0
  pid=$(cat "$S/$1.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 "$2"); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$S/$1.pid"
}

# Pods go first (bounded), so the kubelet tears down their networks through CNI.
if [[ -f "$S/kube-apiserver.pid" ]] && kill -0 "$(cat "$S/kube-apiserver.pid")" 2>/dev/null; then
  timeout 90 "$B/kubectl" delete namespace --wait=true --timeout=60s \
    $("$B/kubectl" get ns -o name 2>/dev/null | grep -v -E '/(default|kube-system|kube-public|kube-node-lease)$' | sed 's#namespace/##') >/dev/null 2>&1
  timeout 60 "$B/kubectl" delete pods --all -A --wait=true --timeout=45s >/dev/null 2>&1
fi
for c in kube-proxy kube-scheduler kube-controller-manager kubelet; do stop "$c" 10; done
if [[ -f "$S/containerd.pid" ]] && kill -0 "$(cat "$S/containerd.pid")" 2>/dev/null; then
  for t in $(ctr -n k8s.io tasks ls -q 2>/dev/null); do ctr -n k8s.io tasks kill -s KILL "$t" >/dev/null 2>&1; done
  sleep 1
  for c in $(ctr -n k8s.io containers ls -q 2>/dev/null); do
    ctr -n k8s.io tasks rm -f "$c" >/dev/null 2>&1; ctr -n k8s.io containers rm "$c" >/dev/null 2>&1
  done
fi
[[ -x "$B/kube-proxy" ]] && "$B/kube-proxy" --cleanup >/dev/null 2>&1
for c in containerd kube-apiserver etcd; do stop "$c" 15; done
# Pod sandboxes' network namespaces and the kubelet's volume mounts (deepest first).
grep -o " $S/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
grep -o " /run/gallery-containerd/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
grep -o " /run/netns/cni-[^ ]*" /proc/mounts | xargs -r -n1 umount -l 2>/dev/null
rm -f /run/netns/cni-* 2>/dev/null
# host-local IPAM keeps an address file per sandbox; killed sandboxes never released theirs.
rm -rf /var/lib/cni/networks/gallery-pods
ip link del cni-gallery0 2>/dev/null
# The component logs outlive the state (STATEDIR.logs), for a failed run's report.
rm -rf "$S.logs"; [[ -d "$S/logs" ]] && mv "$S/logs" "$S.logs"
rm -rf "$S"
echo "cluster-down: done (logs in $S.logs)" >&2
