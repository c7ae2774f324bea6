#!/usr/bin/env bash
# One-time host setup for the cluster tests (root, Debian 12 or Ubuntu): container tools,
# containerd for the kubelet, CNI config, the node's local-only address. Idempotent: every
# step checks before it changes anything, so running it again takes a second.
# Pitfalls behind each setting: docs/operations.md#cluster-tests and the recipe they come from.
set -euo pipefail
source "$(dirname "$0")/common.sh"
[[ $(id -u) -eq 0 ]] || { echo "host-setup: must run as root (CI: sudo)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(podman buildah runc containerd etcd-server etcd-client containernetworking-plugins
  iptables busybox-static gcc libc6-dev curl debootstrap git conntrack socat)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "host-setup: installing ${missing[*]}" >&2
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# etcd-server's package starts a system etcd on 2379; the cluster runs its own.
if systemctl is-active --quiet etcd 2>/dev/null; then systemctl disable --now etcd >/dev/null 2>&1 || true; fi

write_if_changed() {  # path, content on stdin
  local tmp; tmp=$(mktemp)
  cat >"$tmp"
  if ! cmp -s "$tmp" "$1"; then mkdir -p "$(dirname "$1")"; mv "$tmp" "$1"; echo "host-setup: wrote $1" >&2; else rm -f "$tmp"; fi
}

# Without CAP_SYS_RESOURCE podman's default rlimits (nofile 1048576) cannot be set, and crun
# refuses hybrid cgroups ("cgroups in hybrid mode not supported"): lower ulimits, use runc.
write_if_changed /etc/containers/containers.conf <<'C'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
C

# The cluster's own containerd (common.sh): the locally built pause image, the distribution's
# CNI plugin dir, and restrict_oom_score_adj (lowering oom_score_adj needs CAP_SYS_RESOURCE; without it runc
# fails with "can't get final child's PID from pipe: EOF").
CNI_BIN=/usr/lib/cni
[[ -x $CNI_BIN/bridge ]] || CNI_BIN=/opt/cni/bin
containerd config default | sed \
  -e 's#sandbox_image = ".*"#sandbox_image = "registry.k8s.io/pause:3.10"#' \
  -e "s#bin_dir = \"/opt/cni/bin\"#bin_dir = \"$CNI_BIN\"#" \
  -e 's#restrict_oom_score_adj = false#restrict_oom_score_adj = true#' \
  -e 's#^root = ".*"#root = "/var/lib/gallery-containerd"#' \
  -e 's#^state = ".*"#state = "/run/gallery-containerd"#' \
  -e "s#address = \"/run/containerd/containerd.sock\"#address = \"$CONTAINERD_SOCK\"#" \
  | write_if_changed "$CONTAINERD_CONFIG"

# Pods on a bridge of their own, 10.244.0.0/24, masqueraded when they leave it.
write_if_changed /etc/cni/net.d/10-gallery.conflist <<'C'
{"cniVersion": "1.0.0", "name": "gallery-pods", "plugins": [
  {"type": "bridge", "bridge": "cni-gallery0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "loopback"}]}
C

# The kubelet refuses a loopback node IP; the node gets a local-only address on an empty
# bridge (this kernel has no 'dummy' link type). Pods reach the node (git daemon, MetalLB IP)
# on it too.
if ! ip link show k8snode0 >/dev/null 2>&1; then
  ip link add k8snode0 type bridge
fi
[[ "$(ip -o addr show dev k8snode0)" == *"10.250.0.1/32"* ]] || ip addr add 10.250.0.1/32 dev k8snode0
ip link set k8snode0 up
# MetalLB's pool in the tests (10.250.0.240/28) is routed onto that bridge, so LoadBalancer
# addresses stay on this machine instead of following the default route out.
ip route replace 10.250.0.240/28 dev k8snode0 src 10.250.0.1
# kube-proxy's iptables rules see bridged pod traffic only with br_netfilter (if loadable).
modprobe br_netfilter 2>/dev/null || true
[[ -w /proc/sys/net/bridge/bridge-nf-call-iptables ]] && echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables || true
echo 1 >/proc/sys/net/ipv4/ip_forward
echo "host-setup: ok" >&2
