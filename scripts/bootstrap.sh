#!/usr/bin/env bash
# Creates .venv and installs the project into it; re-runs only when pyproject.toml changed.
#   scripts/bootstrap.sh        every extra: what `make test`, `make bench` and the linters need
#   scripts/bootstrap.sh up     the app's runtime only (`make up`): no test or dev tools
# A full install satisfies `up` too. Packages are installed by uv (installed into the venv
# first by pip): with empty caches it fetches and installs the runtime in seconds where pip
# takes about a minute, and it shows its progress. Needs Python 3.11+ on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
mode="${1:-dev}"
case "$mode" in
  up) extras="embedded" ;;
  dev) extras="dev,deploy" ;;
  *) echo "usage: $0 [up|dev]" >&2; exit 2 ;;
esac
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
hash=$(sha256sum pyproject.toml | cut -c1-16)
full=.venv/.installed-dev-$hash
stamp=.venv/.installed-$mode-$hash
if [[ -f "$stamp" || -f "$full" ]]; then
  exit 0
fi
started=$SECONDS
say() { echo "bootstrap: $* ($((SECONDS - started)) s)" >&2; }
uv_spec="uv>=0.5,<1"
pip_quiet=(--quiet --disable-pip-version-check)
if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv"
  # Seeding pip into the venv (ensurepip) takes 15-30 s on a busy machine: when the
  # interpreter's own pip can install into another environment (--python, pip 22.3+), the
  # venv gets uv from it instead and never needs a pip of its own.
  if "$PYTHON" -m pip install --help 2>/dev/null | grep -q -- '--python '; then
    "$PYTHON" -m venv --without-pip .venv
    say "installing the installer (uv)"
    "$PYTHON" -m pip "${pip_quiet[@]}" --python .venv/bin/python install "$uv_spec"
  else
    "$PYTHON" -m venv .venv
  fi
fi
if [[ ! -x .venv/bin/uv ]]; then
  say "installing the installer (uv)"
  .venv/bin/python -m pip "${pip_quiet[@]}" install "$uv_spec"
fi
say "installing gallery-pipeline[$extras] into .venv"
# uv shows what it downloads and builds; the build backend's notes stay in its log.
VIRTUAL_ENV="$PWD/.venv" .venv/bin/uv pip install -e ".[$extras]"
rm -f .venv/.installed-*
touch "$stamp"
say "done: $PWD/.venv/bin/gallery"
