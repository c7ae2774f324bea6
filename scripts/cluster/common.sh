# Shared by the cluster scripts (sourced). The test node's fixed, machine-local names.
# shellcheck shell=bash
NODE_IP=10.250.0.1          # on the local-only bridge k8snode0 (host-setup.sh)
NODE_NAME=gallery-node
# A containerd of the cluster's own (not the system's, which Docker may be using, as on
# GitHub's runners): its own config, socket, root and state directories.
CONTAINERD_CONFIG=/etc/gallery-cluster/containerd.toml
CONTAINERD_SOCK=/run/gallery-containerd/containerd.sock
ctr() { command ctr --address "$CONTAINERD_SOCK" "$@"; }
