#!/usr/bin/env bash
# Stops the four-node cluster of seed-up.sh: pods deleted first (bounded, while the API
# answers), then every node powered off (node-power.sh: all its processes SIGKILLed), and the
# namespaces, links, routes, rules, cgroups,
# mounts and state removed. The nodes' containerd image stores (/var/lib/gallery-seed) stay,
# so the next run imports nothing again. Safe to run twice or after a half-finished start.
# Usage: scripts/cluster/seed-down.sh STATEDIR
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/cluster/common.sh
S=${1:?statedir}
B=$(scripts/cluster/build-k8s.sh kubectl kube-proxy 2>/dev/null | tail -n 1)
mapfile -t NODES < <(scripts/cluster/nodes.sh)

if [[ -d "$S" ]]; then
  S=$(cd "$S" && pwd)
  export KUBECONFIG="$S/kubeconfig"
  if timeout 5 "$B/kubectl" get --raw /readyz >/dev/null 2>&1; then
    timeout 90 "$B/kubectl" delete namespace --wait=true --timeout=60s \
      $("$B/kubectl" get ns -o name 2>/dev/null | grep -v -E '/(default|kube-system|kube-public|kube-node-lease)$' | sed 's#namespace/##') >/dev/null 2>&1
    timeout 60 "$B/kubectl" delete pods --all -A --wait=true --timeout=45s >/dev/null 2>&1
  fi
fi
# The workers first, the control plane last (its kubelet and API go with it).
for ((i = ${#NODES[@]} - 1; i >= 0; i--)); do
  read -r name _ _ _ _ <<<"${NODES[$i]}"
  [[ -d /sys/fs/cgroup/freezer/gallery-seed/$name ]] && scripts/cluster/node-power.sh off "$name" 2>/dev/null
done
# Mounts: the kubelets' volumes (under STATEDIR), the containers' rootfs and sandbox netns.
grep -o " $S/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
grep -o " /run/gallery-seed/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
grep -o " /var/lib/gallery-seed/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
for line in "${NODES[@]}"; do
  read -r name _ ip cidr index <<<"$line"
  ip link del "seed$index" 2>/dev/null
  ip netns del "$name" 2>/dev/null
  ip route del "$cidr" via "$ip" 2>/dev/null
  rm -rf "$(seed_run "$name")"
  # cgroups, deepest first (empty now).
  for h in /sys/fs/cgroup/*/gallery-seed/"$name"; do
    find "$h" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "/var/lib/cni/networks/seed-pods-$index"
done
for h in /sys/fs/cgroup/*/gallery-seed; do rmdir "$h" 2>/dev/null; done
grep -o " /run/netns/cni-[^ ]*" /proc/mounts | xargs -r -n1 umount -l 2>/dev/null
rm -f /run/netns/cni-* 2>/dev/null
iptables -D FORWARD -i "$SEED_BRIDGE" -j ACCEPT 2>/dev/null
iptables -D FORWARD -o "$SEED_BRIDGE" -j ACCEPT 2>/dev/null
iptables -t nat -D POSTROUTING -s "$SEED_SUBNET" ! -d "$SEED_SUBNET" -j MASQUERADE 2>/dev/null
ip link del "$SEED_BRIDGE" 2>/dev/null
if [[ -d "$S" ]]; then
  rm -rf "$S.logs"; [[ -d "$S/logs" ]] && mv "$S/logs" "$S.logs"
  rm -rf "$S"
fi
echo "seed-down: done${S:+ (logs in $S.logs)}" >&2
exit 0
