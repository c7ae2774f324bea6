#!/usr/bin/env bash
# Installs the pinned npm packages the tests compare against (today: the reference ThumbHash
# encoder) into a cache outside the checkout, like scripts/tools.sh does for the Go tools.
# Needs Node 18+ and npm. Usage: scripts/npm.sh
set -euo pipefail

PREFIX="${GALLERY_NPM_CACHE:-$HOME/.cache/gallery-pipeline/npm}"
PACKAGES=("thumbhash@0.1.1")

command -v npm >/dev/null || { echo "npm: Node.js and npm are required for the reference tests" >&2; exit 1; }
for spec in "${PACKAGES[@]}"; do
  name="${spec%@*}"
  version="${spec##*@}"
  installed="$PREFIX/node_modules/$name/package.json"
  if [[ -f "$installed" ]] && grep -q "\"version\": \"$version\"" "$installed"; then
    continue
  fi
  echo "npm: installing $spec into $PREFIX" >&2
  npm install --silent --no-audit --no-fund --prefix "$PREFIX" "$spec" >/dev/null
done
