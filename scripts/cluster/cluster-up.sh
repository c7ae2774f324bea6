#!/usr/bin/env bash
# Starts a single-node Kubernetes cluster on this machine: etcd, kube-apiserver (with the API
# aggregation layer), controller-manager, scheduler, containerd, kubelet, kube-proxy and
# CoreDNS. Every listener is on 10.250.0.1 (a local-only bridge address, host-setup.sh) or in
# the pod (10.244.0.0/24) and service (10.96.0.0/16) ranges. Every wait is bounded.
# Usage: scripts/cluster/cluster-up.sh STATEDIR    (writes STATEDIR/kubeconfig; root only)
# Stop with cluster-down.sh STATEDIR, also after a failure (it only kills what this started).
set -euo pipefail
cd "$(dirname "$0")/../.."
# GALLERY_CLUSTER_TOPOLOGY=seed: the seed's four machines instead (scripts/cluster/seed-up.sh).
[[ ${GALLERY_CLUSTER_TOPOLOGY:-single} != seed ]] || exec scripts/cluster/seed-up.sh "$@"
ROOT=$PWD
source scripts/cluster/common.sh
S=${1:?statedir}
B=$("$ROOT/scripts/cluster/build-k8s.sh" | tail -n 1)
mkdir -p "$S/pki" "$S/logs"
S=$(cd "$S" && pwd)
export KUBECONFIG="$S/kubeconfig"
K="$B/kubectl"

log() { echo "cluster-up: $*" >&2; }
fail() { log "$*"; for f in "$S"/logs/*.log; do echo "--- $f" >&2; tail -n 15 "$f" >&2; done; exit 1; }
wait_for() {  # seconds, description, command...
  local deadline=$(($(date +%s) + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [[ $(date +%s) -lt $deadline ]] || fail "timed out waiting for $what"
    sleep 1
  done
}
start() {  # name, command...: in the background, pid in STATEDIR/NAME.pid
  local name=$1; shift
  if [[ -f "$S/$name.pid" ]] && kill -0 "$(cat "$S/$name.pid")" 2>/dev/null; then return 0; fi
  setsid nohup "$@" >"$S/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$S/$name.pid"
}

"$ROOT/scripts/cluster/host-setup.sh"

# --- PKI: a cluster CA for the API server's serving cert and the service account trust,
# and a separate front-proxy CA for the aggregation layer (RFC 5280 certs via openssl).
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
  "subjectAltName=IP:$NODE_IP,IP:10.96.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
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
clusters: [{name: gallery, cluster: {server: "https://$NODE_IP:6443", certificate-authority: "$S/pki/ca.crt"}}]
users: [{name: admin, user: {token: "$(cat "$S/admin.token")"}}]
contexts: [{name: gallery, context: {cluster: gallery, user: admin}}]
current-context: gallery
KC

# --- etcd and the API server
start etcd etcd --name gallery --data-dir "$S/etcd" --listen-client-urls "http://$NODE_IP:2379" \
  --advertise-client-urls "http://$NODE_IP:2379" --listen-peer-urls "http://$NODE_IP:2380" \
  --initial-advertise-peer-urls "http://$NODE_IP:2380" --initial-cluster "gallery=http://$NODE_IP:2380" \
  --listen-metrics-urls "http://$NODE_IP:2381"
# The aggregation layer: the API server proxies /apis/external.metrics.k8s.io (KEDA's adapter)
# with the front-proxy client cert and X-Remote-* headers; aggregator routing dials the
# endpoint's pod IP directly.
start kube-apiserver "$B/kube-apiserver" --etcd-servers="http://$NODE_IP:2379" \
  --bind-address=$NODE_IP --advertise-address=$NODE_IP --secure-port=6443 \
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
  --enable-aggregator-routing=true
wait_for 120 "kube-apiserver /readyz" "$K" get --raw /readyz
log "apiserver ready"

# --- control plane controllers
start kube-controller-manager "$B/kube-controller-manager" --kubeconfig="$S/kubeconfig" --leader-elect=false \
  --bind-address=$NODE_IP --service-account-private-key-file="$S/pki/sa.key" --root-ca-file="$S/pki/ca.crt" \
  --cluster-cidr=10.244.0.0/16 --service-cluster-ip-range=10.96.0.0/16 --use-service-account-credentials \
  --authentication-kubeconfig="$S/kubeconfig" --authorization-kubeconfig="$S/kubeconfig"
start kube-scheduler "$B/kube-scheduler" --kubeconfig="$S/kubeconfig" --leader-elect=false --bind-address=$NODE_IP \
  --authentication-kubeconfig="$S/kubeconfig" --authorization-kubeconfig="$S/kubeconfig"

# --- containerd and the images the node needs before any pod (the pause sandbox)
start containerd containerd --config "$CONTAINERD_CONFIG"
wait_for 60 "containerd" ctr version
"$ROOT/scripts/cluster/images.sh" load pause coredns

# Pods (and CoreDNS's forwarding) need a real upstream resolver, not systemd-resolved's stub
# on 127.0.0.53, which CoreDNS's loop check would refuse.
RESOLV=/etc/resolv.conf
grep -q '^nameserver 127\.' /etc/resolv.conf && [[ -f /run/systemd/resolve/resolv.conf ]] && RESOLV=/run/systemd/resolve/resolv.conf
cat >"$S/kubelet.yaml" <<KC
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
healthzBindAddress: $NODE_IP
readOnlyPort: 0
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
failSwapOn: false
resolvConf: $RESOLV
clusterDomain: cluster.local
clusterDNS: [10.96.0.10]
serializeImagePulls: false
# No registry to pull from again: image garbage collection would delete the local images (the
# pause sandbox first) once the disk looks 85 % full, and pods could never start again.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
KC
start kubelet "$B/kubelet" --config="$S/kubelet.yaml" --kubeconfig="$S/kubeconfig" \
  --hostname-override=$NODE_NAME --node-ip=$NODE_IP --root-dir="$S/kubelet"
start kube-proxy "$B/kube-proxy" --kubeconfig="$S/kubeconfig" --hostname-override=$NODE_NAME \
  --proxy-mode=iptables --cluster-cidr=10.244.0.0/16 --metrics-bind-address=$NODE_IP:10249 \
  --healthz-bind-address=$NODE_IP:10256 --nodeport-addresses=$NODE_IP/32
wait_for 180 "node $NODE_NAME Ready" "$K" wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s
wait_for 60 "default service account" "$K" get serviceaccount default

# --- CoreDNS: kube-dns at 10.96.0.10, so nats, seaweedfs-s3 and *.svc.cluster.local resolve
COREDNS_IMAGE=$("$ROOT/scripts/cluster/images.sh" tag coredns)
sed "s#COREDNS_IMAGE#$COREDNS_IMAGE#" "$ROOT/scripts/cluster/coredns.yaml" | "$K" apply --server-side -f - >/dev/null
wait_for 180 "CoreDNS rollout" "$K" -n kube-system rollout status deploy/coredns --timeout=5s
log "cluster up in $SECONDS s (kubeconfig: $S/kubeconfig)"
