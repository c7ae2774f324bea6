#!/usr/bin/env bash
# Starts the seed's four machines on this one: the control plane nl-cloud-hf-22-1 (etcd,
# kube-apiserver, controller-manager, scheduler, and a kubelet tainted NoSchedule, as k0s
# does) and the workers nl-cloud-hf-22-w1..w3, names and roles from scripts/cluster/nodes.sh.
# Each node is a network namespace with its own address on the shared bridge gallery-seed0
# (10.251.0.0/24, the host is .1), its own containerd (root, state, socket, CNI config and IPAM
# under its name), kubelet and kube-proxy, all in per-node cgroups (gallery-seed/NAME in
# every cgroup v1 hierarchy), so scripts/cluster/node-power.sh can SIGKILL every process of a
# node at once. Why namespaces and not podman machine containers: docs/operations.md.
# Usage: scripts/cluster/seed-up.sh STATEDIR   (root; stop with seed-down.sh STATEDIR)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
source scripts/cluster/common.sh
S=${1:?statedir}
B=$("$ROOT/scripts/cluster/build-k8s.sh" | tail -n 1)
mkdir -p "$S/pki" "$S/logs"
S=$(cd "$S" && pwd)
export KUBECONFIG="$S/kubeconfig"
K="$B/kubectl"

log() { echo "seed-up: $*" >&2; }
fail() { log "$*"; for f in "$S"/logs/*.log; do echo "--- $f" >&2; tail -n 15 "$f" >&2; done; exit 1; }
wait_for() {  # seconds, description, command...
  local deadline=$(($(date +%s) + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [[ $(date +%s) -lt $deadline ]] || fail "timed out waiting for $what"
    sleep 1
  done
}

"$ROOT/scripts/cluster/host-setup.sh"
mapfile -t NODES < <("$ROOT/scripts/cluster/nodes.sh")
CONTROLLER_IP=""
for line in "${NODES[@]}"; do
  read -r name role ip _ _ <<<"$line"
  [[ $role == controller ]] && { CONTROLLER=$name; CONTROLLER_IP=$ip; }
done
[[ -n $CONTROLLER_IP ]] || fail "no controller in the node list"

# Four kubelets and containerds each hold several inotify instances (cAdvisor, config and
# plugin watchers, CNI config): the default 128 per user runs out ("too many open files").
[[ $(cat /proc/sys/fs/inotify/max_user_instances) -ge 1024 ]] || echo 1024 >/proc/sys/fs/inotify/max_user_instances

# --- the shared bridge (the machines' switch) and each node's cable into it
if ! ip link show "$SEED_BRIDGE" >/dev/null 2>&1; then ip link add "$SEED_BRIDGE" type bridge; fi
[[ "$(ip -o addr show dev "$SEED_BRIDGE")" == *"$SEED_HOST_IP/24"* ]] || ip addr add "$SEED_HOST_IP/24" dev "$SEED_BRIDGE"
ip link set "$SEED_BRIDGE" up
# With br_netfilter, frames between the nodes cross the host's FORWARD chain (Docker sets it
# to DROP); nodes reach the outside (apt mirror, DNS) masqueraded behind the host.
iptables -C FORWARD -i "$SEED_BRIDGE" -j ACCEPT 2>/dev/null || iptables -I FORWARD -i "$SEED_BRIDGE" -j ACCEPT
iptables -C FORWARD -o "$SEED_BRIDGE" -j ACCEPT 2>/dev/null || iptables -I FORWARD -o "$SEED_BRIDGE" -j ACCEPT
iptables -t nat -C POSTROUTING -s "$SEED_SUBNET" ! -d "$SEED_SUBNET" -j MASQUERADE 2>/dev/null \
  || iptables -t nat -A POSTROUTING -s "$SEED_SUBNET" ! -d "$SEED_SUBNET" -j MASQUERADE

CNI_BIN=/usr/lib/cni
[[ -x $CNI_BIN/bridge ]] || CNI_BIN=/opt/cni/bin
for line in "${NODES[@]}"; do
  read -r name role ip cidr index <<<"$line"
  d="$S/nodes/$name"
  mkdir -p "$d/cni" "$d/kubelet" "$(seed_run "$name")"
  ip netns add "$name" 2>/dev/null || true
  host_end="seed$index"
  if ! ip link show "$host_end" >/dev/null 2>&1; then
    ip link add "$host_end" type veth peer name eth0 netns "$name"
  fi
  ip link set "$host_end" master "$SEED_BRIDGE" up
  nsexec() { ip netns exec "$name" "$@"; }
  nsexec ip link set lo up
  [[ "$(nsexec ip -o addr show dev eth0)" == *"$ip/24"* ]] || nsexec ip addr add "$ip/24" dev eth0
  nsexec ip link set eth0 up
  nsexec ip route replace default via "$SEED_HOST_IP"
  nsexec sysctl -qw net.ipv4.ip_forward=1
  nsexec sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  # Pod ranges of the other nodes through their node address (what a routed CNI does), and
  # the host reaches every pod range the same way.
  for other in "${NODES[@]}"; do
    read -r oname _ oip ocidr _ <<<"$other"
    [[ $oname == "$name" ]] || nsexec ip route replace "$ocidr" via "$oip"
  done
  ip route replace "$cidr" via "$ip"
  # Its own cgroup in every v1 hierarchy (cpuset needs its cpus and mems filled in).
  for h in /sys/fs/cgroup/*/; do
    [[ -f "$h/cgroup.procs" && "$h" != */unified/ ]] || continue
    mkdir -p "$h/gallery-seed/$name"
    if [[ -f "$h/cpuset.cpus" ]]; then
      for f in cpuset.cpus cpuset.mems; do
        [[ -s "$h/gallery-seed/$f" && -n "$(cat "$h/gallery-seed/$f")" ]] || cat "$h/$f" >"$h/gallery-seed/$f"
        [[ -n "$(cat "$h/gallery-seed/$name/$f")" ]] || cat "$h/gallery-seed/$f" >"$h/gallery-seed/$name/$f"
      done
    fi
  done
  # Its own containerd: root, state, sockets, CNI config dir and IPAM network name.
  containerd config default | sed \
    -e 's#sandbox_image = ".*"#sandbox_image = "registry.k8s.io/pause:3.10"#' \
    -e "s#bin_dir = \"/opt/cni/bin\"#bin_dir = \"$CNI_BIN\"#" \
    -e "s#conf_dir = \"/etc/cni/net.d\"#conf_dir = \"$d/cni\"#" \
    -e 's#restrict_oom_score_adj = false#restrict_oom_score_adj = true#' \
    -e "s#^root = \".*\"#root = \"/var/lib/gallery-seed/$name/containerd\"#" \
    -e "s#^state = \".*\"#state = \"$(seed_run "$name")/state\"#" \
    -e "s#address = \"/run/containerd/containerd.sock\"#address = \"$(seed_sock "$name")\"#" \
    >"$d/containerd.toml"
  cat >"$d/cni/10-seed.conflist" <<C
{"cniVersion": "1.0.0", "name": "seed-pods-$index", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "loopback"}]}
C
done

# node_start NODE NAME COMMAND...: in NODE's cgroups and network namespace, in the background.
# nsenter, not `ip netns exec`: that gives each command a mount namespace of its own, and the
# kubelet's volume mounts must be visible to the node's containerd (paths are per node anyway).
node_start() {
  local node=$1 name=$2; shift 2
  local pidfile="$S/nodes/$node/$name.pid"
  if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then return 0; fi
  setsid nohup bash -c '
    for h in /sys/fs/cgroup/*/gallery-seed/"$0"; do
      [[ $h == */unified/* ]] || echo $$ >"$h/cgroup.procs"
    done
    exec nsenter --net=/run/netns/"$0" "$@"' "$node" "$@" >"$S/logs/$node-$name.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

# --- PKI and the admin kubeconfig (as cluster-up.sh, for the controller's address)
cert() {  # name, CA name, subject, extensions
  [[ -f "$S/pki/$1.crt" ]] && return 0
  openssl req -new -newkey rsa:2048 -nodes -keyout "$S/pki/$1.key" -subj "$3" -out "$S/pki/$1.csr" 2>/dev/null
  printf '%s\n' "$4" >"$S/pki/$1.ext"
  openssl x509 -req -in "$S/pki/$1.csr" -CA "$S/pki/$2.crt" -CAkey "$S/pki/$2.key" -CAcreateserial \
    -days 30 -extfile "$S/pki/$1.ext" -out "$S/pki/$1.crt" 2>/dev/null
}
ca() {
  [[ -f "$S/pki/$1.crt" ]] || openssl req -x509 -new -newkey rsa:2048 -nodes -days 30 -keyout "$S/pki/$1.key" \
    -subj "/CN=$1" -out "$S/pki/$1.crt" 2>/dev/null
}
ca ca
ca front-proxy-ca
cert apiserver ca "/CN=kube-apiserver" \
  "subjectAltName=IP:$CONTROLLER_IP,IP:10.96.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth"
cert front-proxy-client front-proxy-ca "/CN=front-proxy-client" "extendedKeyUsage=clientAuth"
[[ -f "$S/pki/sa.key" ]] || { openssl genrsa -out "$S/pki/sa.key" 2048 2>/dev/null; openssl rsa -in "$S/pki/sa.key" -pubout -out "$S/pki/sa.pub" 2>/dev/null; }
if [[ ! -f "$S/admin.token" ]]; then
  head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$S/admin.token"
  echo "$(cat "$S/admin.token"),admin,admin,system:masters" >"$S/tokens.csv"
fi
cat >"$S/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: gallery, cluster: {server: "https://$CONTROLLER_IP:6443", certificate-authority: "$S/pki/ca.crt"}}]
users: [{name: admin, user: {token: "$(cat "$S/admin.token")"}}]
contexts: [{name: gallery, context: {cluster: gallery, user: admin}}]
current-context: gallery
KC

# --- the control plane, on the controller node
C=$CONTROLLER; IP=$CONTROLLER_IP
node_start "$C" etcd etcd --name "$C" --data-dir "$S/nodes/$C/etcd" --listen-client-urls "http://$IP:2379" \
  --advertise-client-urls "http://$IP:2379" --listen-peer-urls "http://$IP:2380" \
  --initial-advertise-peer-urls "http://$IP:2380" --initial-cluster "$C=http://$IP:2380" \
  --listen-metrics-urls "http://$IP:2381"
node_start "$C" kube-apiserver "$B/kube-apiserver" --etcd-servers="http://$IP:2379" \
  --bind-address="$IP" --advertise-address="$IP" --secure-port=6443 \
  --tls-cert-file="$S/pki/apiserver.crt" --tls-private-key-file="$S/pki/apiserver.key" \
  --client-ca-file="$S/pki/ca.crt" \
  --service-cluster-ip-range=10.96.0.0/16 --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$S/pki/sa.pub" --service-account-signing-key-file="$S/pki/sa.key" \
  --token-auth-file="$S/tokens.csv" --authorization-mode=Node,RBAC --allow-privileged=true \
  --kubelet-preferred-address-types=InternalIP \
  --requestheader-client-ca-file="$S/pki/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$S/pki/front-proxy-client.crt" --proxy-client-key-file="$S/pki/front-proxy-client.key" \
  --enable-aggregator-routing=true \
  --default-not-ready-toleration-seconds=30 --default-unreachable-toleration-seconds=30
wait_for 120 "kube-apiserver /readyz" "$K" get --raw /readyz
log "apiserver ready on $C ($IP)"
# A dead node is noticed after 20 s without a heartbeat and its pods evicted 30 s later (the
# apiserver's default tolerations above); k0s keeps Kubernetes' 40 s and 300 s, with which the
# power-off test would only wait longer.
node_start "$C" kube-controller-manager "$B/kube-controller-manager" --kubeconfig="$S/kubeconfig" --leader-elect=false \
  --bind-address="$IP" --service-account-private-key-file="$S/pki/sa.key" --root-ca-file="$S/pki/ca.crt" \
  --cluster-cidr=10.245.0.0/16 --service-cluster-ip-range=10.96.0.0/16 --use-service-account-credentials \
  --node-monitor-grace-period=20s \
  --authentication-kubeconfig="$S/kubeconfig" --authorization-kubeconfig="$S/kubeconfig"
node_start "$C" kube-scheduler "$B/kube-scheduler" --kubeconfig="$S/kubeconfig" --leader-elect=false --bind-address="$IP" \
  --authentication-kubeconfig="$S/kubeconfig" --authorization-kubeconfig="$S/kubeconfig"

# --- every node: containerd, the pause image, kubelet, kube-proxy
RESOLV=/etc/resolv.conf
grep -q '^nameserver 127\.' /etc/resolv.conf && [[ -f /run/systemd/resolve/resolv.conf ]] && RESOLV=/run/systemd/resolve/resolv.conf
for line in "${NODES[@]}"; do
  read -r name role ip cidr index <<<"$line"
  d="$S/nodes/$name"
  node_start "$name" containerd containerd --config "$d/containerd.toml"
done
for line in "${NODES[@]}"; do
  read -r name _ _ _ _ <<<"$line"
  wait_for 60 "containerd of $name" command ctr --address "$(seed_sock "$name")" version
done
GALLERY_CLUSTER_TOPOLOGY=seed "$ROOT/scripts/cluster/images.sh" load pause coredns
for line in "${NODES[@]}"; do
  read -r name role ip cidr index <<<"$line"
  d="$S/nodes/$name"
  taints=""
  [[ $role == controller ]] && taints="--register-with-taints=node-role.kubernetes.io/control-plane:NoSchedule"
  cat >"$d/kubelet.yaml" <<KC
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
healthzBindAddress: $ip
readOnlyPort: 0
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
# Pods of this node under its own cgroup, so the power switch finds every process of it.
cgroupRoot: /gallery-seed/$name
containerRuntimeEndpoint: unix://$(seed_sock "$name")
failSwapOn: false
resolvConf: $RESOLV
clusterDomain: cluster.local
clusterDNS: [10.96.0.10]
serializeImagePulls: false
# No registry to pull from again (cluster-up.sh): never garbage-collect the local images.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
# Every node sees the whole machine: 2 cores and its memory each (docs/operations.md).
KC
  # shellcheck disable=SC2086 # taints is one flag or none
  node_start "$name" kubelet "$B/kubelet" --config="$d/kubelet.yaml" --kubeconfig="$S/kubeconfig" \
    --hostname-override="$name" --node-ip="$ip" --root-dir="$d/kubelet" $taints
  # conntrack sysctls are the machine's (read-only in a namespace): kube-proxy leaves them.
  node_start "$name" kube-proxy "$B/kube-proxy" --kubeconfig="$S/kubeconfig" --hostname-override="$name" \
    --proxy-mode=iptables --cluster-cidr=10.245.0.0/16 --metrics-bind-address="$ip:10249" \
    --healthz-bind-address="$ip:10256" --nodeport-addresses="$ip/32" \
    --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0
done
# No kube-proxy in the host's own namespace: the host is the tests' client outside the nodes,
# and kube-proxy would catch its traffic to the LoadBalancer address before it ever left
# through the bridge (it routes node-local traffic to external addresses itself).
for line in "${NODES[@]}"; do
  read -r name role _ _ _ <<<"$line"
  wait_for 180 "node $name Ready" "$K" wait --for=condition=Ready "node/$name" --timeout=5s
  # Kubelets may not set node-role labels themselves (NodeRestriction); k0s's controller does.
  if [[ $role == controller ]]; then
    "$K" label --overwrite node "$name" node-role.kubernetes.io/control-plane= >/dev/null
  else
    "$K" label --overwrite node "$name" node-role.kubernetes.io/worker= >/dev/null
  fi
done
# Ready is not yet schedulable: a node keeps node.kubernetes.io/not-ready:NoSchedule until the
# node lifecycle controller lifts it, a moment later (a test saw a worker still tainted).
wait_for 60 "the nodes' not-ready taints lifted" bash -c \
  "taints=\$('$K' get nodes -o jsonpath='{.items[*].spec.taints[*].key}') && [[ \$taints != *node.kubernetes.io/not-ready* ]]"
wait_for 60 "default service account" "$K" get serviceaccount default

COREDNS_IMAGE=$("$ROOT/scripts/cluster/images.sh" tag coredns)
sed "s#COREDNS_IMAGE#$COREDNS_IMAGE#" "$ROOT/scripts/cluster/coredns.yaml" | "$K" apply --server-side -f - >/dev/null
wait_for 180 "CoreDNS rollout" "$K" -n kube-system rollout status deploy/coredns --timeout=5s
log "four nodes up in $SECONDS s (kubeconfig: $S/kubeconfig)"
