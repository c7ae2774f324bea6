#!/usr/bin/env bash
# Builds the pinned Kubernetes node binaries through the Go module proxy into the tools cache,
# keyed by version, so only the first run on a machine pays for it (~12 min cold on 2 cores,
# seconds warm). Prints the directory holding them. Usage: scripts/cluster/build-k8s.sh [component...]
#
# `go install k8s.io/kubernetes/cmd/...` is refused because k8s.io/kubernetes' go.mod replaces its
# staging modules with local paths; a wrapper module that requires k8s.io/kubernetes and replaces
# each ./staging/src/k8s.io/X by the published k8s.io/X v0.MINOR.PATCH builds from the proxy alone.
set -euo pipefail
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
K8S_VERSION="${GALLERY_K8S_VERSION:-1.34.4}"
CACHE="${GALLERY_TOOLS_CACHE:-$HOME/.cache/gallery-pipeline/tools}"
OUT="$CACHE/k8s-v$K8S_VERSION"
COMPONENTS=("$@")
[[ ${#COMPONENTS[@]} -gt 0 ]] || COMPONENTS=(kube-apiserver kubectl kubelet kube-scheduler kube-controller-manager kube-proxy)
mkdir -p "$OUT"

build_wrapper_module() {
  local work="$OUT/.wrapper" gomod c
  [[ -f "$work/go.sum" ]] && return 0
  rm -rf "$work"; mkdir -p "$work"
  gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  {
    printf 'module localbuild/k8s\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$K8S_VERSION"
    grep "=> ./staging" "$gomod" | sed -E "s#=> ./staging/src/(k8s.io/[a-z0-9-]+)#=> \1 v0.${K8S_VERSION#1.}#"
    printf ')\n'
  } >"$work/go.mod.tmp"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for c in kube-apiserver kubectl kubelet kube-scheduler kube-controller-manager kube-proxy; do
      printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"
    done
    printf ')\n'
  } >"$work/tools.go"
  mv "$work/go.mod.tmp" "$work/go.mod"
  (cd "$work" && go mod tidy)
}

build_k8s() {
  local c="$1" minor ld p start
  minor=$(cut -d. -f2 <<<"$K8S_VERSION")
  ld="-s -w"
  # Without these the binaries report v0.0.0-master+$Format:%H$ and kubectl warns about skew.
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  start=$(date +%s)
  (cd "$OUT/.wrapper" && go build -trimpath -ldflags "$ld" -o "$OUT/$c.tmp" "k8s.io/kubernetes/cmd/$c")
  mv "$OUT/$c.tmp" "$OUT/$c"
  echo "build-k8s: built $c in $(($(date +%s) - start)) s" >&2
}

for c in "${COMPONENTS[@]}"; do
  [[ -x "$OUT/$c" ]] && continue
  build_wrapper_module
  build_k8s "$c"
done
echo "$OUT"
