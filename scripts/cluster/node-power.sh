#!/usr/bin/env bash
# The power switch of one node of the four-node cluster (seed-up.sh).
#   off NODE           every process of the node (containerd, shims, kubelet, kube-proxy and
#                      every container of its pods) SIGKILLed at once, frozen first so none
#                      forks away, then its cable pulled (the host end of its veth down):
#                      no graceful stop, no goodbye packets, as when a machine loses power
#   on NODE STATEDIR   cable back, then seed-up.sh starts what is not running (the node's
#                      containerd, kubelet and kube-proxy), as a machine booting would
#   status NODE        "on" or "off"
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/cluster/common.sh
cmd=${1:?off|on|status}; node=${2:?node name}
index=$(scripts/cluster/nodes.sh | awk -v n="$node" '$1 == n {print $5}')
[[ -n $index ]] || { echo "node-power: no node $node in the node list" >&2; exit 2; }
FREEZER=/sys/fs/cgroup/freezer/gallery-seed/$node

procs() { find "/sys/fs/cgroup/pids/gallery-seed/$node" -name cgroup.procs -exec cat {} + 2>/dev/null; }

case "$cmd" in
  off)
    echo FROZEN >"$FREEZER/freezer.state"
    for _ in $(seq 1 50); do [[ $(cat "$FREEZER/freezer.state") == FROZEN ]] && break; sleep 0.1; done
    # shellcheck disable=SC2046 # one pid per word
    kill -9 $(find "$FREEZER" -name cgroup.procs -exec cat {} +) 2>/dev/null || true
    ip link set "seed$index" down
    echo THAWED >"$FREEZER/freezer.state"
    for _ in $(seq 1 100); do [[ -z $(procs) ]] && break; sleep 0.1; done
    [[ -z $(procs) ]] || { echo "node-power: $node still has processes: $(procs | tr '\n' ' ')" >&2; exit 1; }
    echo "node-power: $node off" >&2 ;;
  on)
    S=${3:?statedir}
    ip link set "seed$index" up
    GALLERY_CLUSTER_TOPOLOGY=seed scripts/cluster/seed-up.sh "$S"
    echo "node-power: $node on" >&2 ;;
  status)
    if [[ -n $(procs) ]] && [[ $(ip -o link show "seed$index") != *"state DOWN"* ]]; then echo on; else echo off; fi ;;
  *) echo "usage: $0 off|on|status NODE [STATEDIR]" >&2; exit 2 ;;
esac
