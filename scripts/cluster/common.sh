# Shared by the cluster scripts (sourced). The test node's fixed, machine-local names.
# shellcheck shell=bash
NODE_IP=10.250.0.1          # on the local-only bridge k8snode0 (host-setup.sh)
NODE_NAME=gallery-node
# A containerd of the cluster's own (not the system's, which Docker may be using, as on
# GitHub's runners): its own config, socket, root and state directories.
CONTAINERD_CONFIG=/etc/gallery-cluster/containerd.toml
CONTAINERD_SOCK=/run/gallery-containerd/containerd.sock
ctr() { command ctr --address "$CONTAINERD_SOCK" "$@"; }

# The four-node cluster (seed-up.sh; GALLERY_CLUSTER_TOPOLOGY=seed): the machines' shared
# bridge, the host's address on it, and each node's containerd socket.
SEED_BRIDGE=gallery-seed0
SEED_HOST_IP=10.251.0.1
SEED_SUBNET=10.251.0.0/24
seed_run() { echo "/run/gallery-seed/$1"; }
seed_sock() { echo "/run/gallery-seed/$1/containerd.sock"; }
# The containerd sockets images go into: every node's in the four-node cluster, else the one.
containerd_sockets() {
  if [[ ${GALLERY_CLUSTER_TOPOLOGY:-single} == seed ]]; then
    local name
    for name in $("$(dirname "${BASH_SOURCE[0]}")/nodes.sh" | cut -d' ' -f1); do seed_sock "$name"; done
  else
    echo "$CONTAINERD_SOCK"
  fi
}
