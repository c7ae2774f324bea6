#!/usr/bin/env bash
# Builds the pinned Go programs the test cluster runs (besides Kubernetes itself, see
# build-k8s.sh) through the Go module proxy into the tools cache, keyed by version.
# Usage: scripts/cluster/build-go.sh NAME            build if missing, print the binary's path
#        scripts/cluster/build-go.sh --version NAME  print the pinned version
#        scripts/cluster/build-go.sh --module NAME   print the module path
#        scripts/cluster/build-go.sh --path NAME     print the binary's path if built (else exit 1)
# A module whose go.mod has replace directives cannot be `go install`ed; it is built from a
# wrapper module that requires it and repeats its (module-to-module) replaces.
set -euo pipefail
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
CACHE="${GALLERY_TOOLS_CACHE:-$HOME/.cache/gallery-pipeline/tools}"
TOOLS_SH="$(cd "$(dirname "$0")/../.." && pwd)/scripts/tools.sh"

# name|module|version|package to build|how (install = go install, wrapper = wrapper module)[|tags]
# Prometheus (only the Kubernetes service discovery) is built by scripts/tools.sh, which pins
# it for `make test` too: one builder, one binary. The row here gives its version for images.sh.
PROM_TAGS="remove_all_sd,enable_kubernetes_sd"
PROGRAMS=(
  # SeaweedFS tags releases without a "v" (3.97), so the proxy knows only pseudo-versions.
  "weed|github.com/seaweedfs/seaweedfs|v0.0.0-20261109003541-7506e5f91cd6|github.com/seaweedfs/seaweedfs/weed|wrapper"
  "coredns|github.com/coredns/coredns|v1.14.7|github.com/coredns/coredns|install"
  "prometheus|github.com/prometheus/prometheus|v0.316.0|github.com/prometheus/prometheus/cmd/prometheus|install|$PROM_TAGS"
  # Not v0.16.2: it needs github.com/metallb/frr-k8s v0.0.27, which the proxy refuses (403
  # "This module version is not available"); v0.16.1 needs v0.0.25, which it serves.
  "metallb-controller|go.universe.tf/metallb|v0.16.1|go.universe.tf/metallb/controller|install"
  "metallb-speaker|go.universe.tf/metallb|v0.16.1|go.universe.tf/metallb/speaker|install"
  "keda-operator|github.com/kedacore/keda/v2|v2.21.0|github.com/kedacore/keda/v2/cmd/operator|wrapper"
  "keda-adapter|github.com/kedacore/keda/v2|v2.21.0|github.com/kedacore/keda/v2/cmd/adapter|wrapper"
  # The dynamic local-volume provisioner the four-node cluster serves its StorageClass with
  # (OpenEBS's does not build from the proxy); its helper pods run the busybox image.
  "local-path-provisioner|github.com/rancher/local-path-provisioner|v0.0.30|github.com/rancher/local-path-provisioner|install"
  # v3.1 as the vendored schemas; later 3.x replace gitops-engine with a local path.
  "argocd|github.com/argoproj/argo-cd/v3|v3.1.9|github.com/argoproj/argo-cd/v3/cmd|wrapper"
)

cached_binary() {  # name version [tags] -> the binary's path in the cache (tags are part of it)
  local tags="${3:-}"
  if [[ "$1" == prometheus ]]; then "$TOOLS_SH" --path prometheus; return; fi
  echo "$CACHE/$1-$2${tags:+-${tags//,/-}}"
}

row_of() {
  local r
  for r in "${PROGRAMS[@]}"; do [[ "${r%%|*}" == "$1" ]] && { echo "$r"; return 0; }; done
  echo "build-go: unknown program $1" >&2; return 1
}

wrapper_module() {  # module version -> prints the wrapper dir (tidied once, then reused)
  local module="$1" version="$2" dir gomod r m v p
  dir="$CACHE/wrappers/$(tr '/' '_' <<<"$module")-$version-v2"
  if [[ ! -f "$dir/go.sum" ]]; then
    rm -rf "$dir"; mkdir -p "$dir"
    gomod=$(go mod download -json "$module@$version" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
    {
      printf 'module localbuild/wrapper\n\ngo %s\n\nrequire %s %s\n\n' "$(sed -n 's/^go //p' "$gomod")" "$module" "$version"
      # Only replaces that point at another module version; local paths do not exist here.
      # (Blank and comment lines inside a replace block are dropped: as single-line
      # directives they would not parse, argo-cd's go.mod has both.)
      awk '/^replace \(/{b=1;next} b&&/^\)/{b=0;next} b&&/^[[:space:]]*(\/\/.*)?$/{next}
        b{print "replace " $0; next} /^replace /{print}' "$gomod" \
        | grep -v -E '=> *\.{0,2}/' || true
    } >"$dir/go.mod"
    # Every program built from this module, so go.sum covers all of them.
    {
      printf '//go:build tools\n\npackage tools\n\nimport (\n'
      for r in "${PROGRAMS[@]}"; do
        IFS='|' read -r _ m v p _ <<<"$r"
        [[ "$m" == "$module" && "$v" == "$version" ]] && printf '\t_ "%s"\n' "$p"
      done
      printf ')\n'
    } >"$dir/tools.go"
    (cd "$dir" && go mod tidy >&2) || { rm -rf "$dir"; return 1; }
  fi
  echo "$dir"
}

build() {
  local name module version package how tags out tmp start dir
  IFS='|' read -r name module version package how tags <<<"$(row_of "$1")"
  out=$(cached_binary "$name" "$version" "$tags")
  if [[ "$name" == prometheus ]]; then "$TOOLS_SH" prometheus >&2 && echo "$out"; return; fi
  if [[ ! -x "$out" ]]; then
    start=$(date +%s); tmp=$(mktemp -d)
    echo "build-go: building $name $version (first time on this machine)" >&2
    if [[ "$how" == install ]]; then
      CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -tags "$tags" -ldflags "-s -w" "$package@$version" >&2
      mv "$tmp/$(basename "$package")" "$out.tmp"
    else
      dir=$(wrapper_module "$module" "$version")
      (cd "$dir" && CGO_ENABLED=0 go build -trimpath -tags "$tags" -ldflags "-s -w" -o "$out.tmp" "$package" >&2)
    fi
    mv "$out.tmp" "$out"; rm -rf "$tmp"
    echo "build-go: built $name in $(($(date +%s) - start)) s" >&2
  fi
  echo "$out"
}

case "${1:-}" in
  --version | --module | --path)
    IFS='|' read -r name module version _ _ tags <<<"$(row_of "$2")"
    out=$(cached_binary "$name" "$version" "$tags")
    case "$1" in
      --version) echo "$version" ;;
      --module) echo "$module" ;;
      --path) [[ -x "$out" ]] && echo "$out" ;;
    esac
    exit $? ;;
esac
[[ $# -gt 0 ]] || { echo "usage: $0 [--version] NAME" >&2; exit 2; }
for n in "$@"; do build "$n"; done
