#!/usr/bin/env bash
# Builds the pinned Go dev tools through the Go module proxy into a cache outside the
# checkout (so a fresh clone on the same machine, and CI, reuse them) and links them into
# .tools/bin. Usage: scripts/tools.sh [tool...]   (no argument: every tool)
#        scripts/tools.sh --path TOOL     the cached binary's path (built or not)
set -euo pipefail

cd "$(dirname "$0")/.."
# Go's official tarball lives in /usr/local/go; a non-login shell may not have it on PATH.
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "tools: Go is required to build the dev tools" >&2; exit 1; }
CACHE="${GALLERY_TOOLS_CACHE:-$HOME/.cache/gallery-pipeline/tools}"
BIN="$PWD/.tools/bin"
mkdir -p "$CACHE" "$BIN"

# name|module path to install|version[|build tags]
# Prometheus and promtool: only the Kubernetes service discovery (the test cluster's scrape
# configs use nothing else). Prometheus' own build tags (plugins/plugin_*.go) leave out the
# cloud SDKs (AWS, Azure, GCE, ...), which were most of its compile time. The cache name
# carries the tags, so the binaries of both scripts are the same file.
PROM_TAGS="remove_all_sd,enable_kubernetes_sd"
TOOLS=(
  "kustomize|sigs.k8s.io/kustomize/kustomize/v5|v5.7.1"
  "minio|github.com/minio/minio|v0.0.0-20260212201848-7aac2a2c5b7c"
  "promtool|github.com/prometheus/prometheus/cmd/promtool|v0.316.0|$PROM_TAGS"
  # `gallery status --prometheus` is tested against a real Prometheus scraping `gallery up`.
  "prometheus|github.com/prometheus/prometheus/cmd/prometheus|v0.316.0|$PROM_TAGS"
  "actionlint|github.com/rhysd/actionlint/cmd/actionlint|v1.7.12"
  "tofu|github.com/opentofu/opentofu/cmd/tofu|v1.6.3"
)

# Static binaries (CGO_ENABLED=0): Prometheus also runs in the test cluster from a FROM scratch
# image (scripts/cluster/images.sh), which has no libc to load; cgo's resolver made it a
# dynamic binary. The name says so, so a cache from before (dynamic builds) is not reused.
cached_path() {  # name version [tags]
  local tags="${3:-}"
  echo "$CACHE/$1-$2${tags:+-${tags//,/-}}-static"
}

install_one() {
  local name="$1" module="$2" version="$3" tags="${4:-}"
  local cached
  cached="$(cached_path "$name" "$version" "$tags")"
  if [[ ! -x "$cached" ]]; then
    echo "tools: building $name $version (first time on this machine, cached in $CACHE)" >&2
    local tmp
    tmp="$(mktemp -d)"
    if ! CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS="-trimpath" go install -tags "$tags" -ldflags "-s -w" "$module@$version" >"$tmp/build.log" 2>&1; then
      echo "tools: building $name failed; last lines:" >&2
      tail -n 20 "$tmp/build.log" >&2
      rm -rf "$tmp"
      return 1
    fi
    mv "$(find "$tmp" -maxdepth 1 -type f -perm -u+x | head -n 1)" "$cached"
    rm -rf "$tmp"
  fi
  ln -sf "$cached" "$BIN/$name"
}

# Python tools whose pins clash with the project's own dependencies (checkov pins packaging,
# cachetools and botocore) get a virtualenv of their own.
PY_TOOLS=(
  "checkov|3.3.30"
)

install_py_one() {
  local name="$1" version="$2"
  local venv="$CACHE/$name-$version-venv"
  if [[ ! -x "$venv/bin/$name" ]]; then
    echo "tools: installing $name $version into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet "$name==$version" || { rm -rf "$venv"; return 1; }
  fi
  ln -sf "$venv/bin/$name" "$BIN/$name"
}

# scripts/cluster/build-go.sh asks for the path of the Prometheus it puts into an image.
if [[ "${1:-}" == --path ]]; then
  for row in "${TOOLS[@]}"; do
    IFS='|' read -r name module version tags <<<"$row"
    [[ "$name" == "${2:-}" ]] && { cached_path "$name" "$version" "$tags"; exit 0; }
  done
  echo "tools: unknown tool ${2:-}" >&2; exit 2
fi

wanted=("$@")
status=0
for row in "${TOOLS[@]}"; do
  IFS='|' read -r name module version tags <<<"$row"
  if [[ ${#wanted[@]} -gt 0 && ! " ${wanted[*]} " =~ " $name " ]]; then
    continue
  fi
  install_one "$name" "$module" "$version" "$tags" || status=1
done
for row in "${PY_TOOLS[@]}"; do
  IFS='|' read -r name version <<<"$row"
  if [[ ${#wanted[@]} -gt 0 && ! " ${wanted[*]} " =~ " $name " ]]; then
    continue
  fi
  install_py_one "$name" "$version" || status=1
done
exit $status
