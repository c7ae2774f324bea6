#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright (never a downloaded browser).
# Installs it with apt when missing and we are root; otherwise says what to do.
set -euo pipefail
CHROMIUM="${GALLERY_CHROMIUM:-/usr/bin/chromium}"
if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi
if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
  echo "browser: installing Debian's chromium for the browser tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
  exit 0
fi
echo "browser: $CHROMIUM is missing; install Debian's chromium (apt-get install chromium)" \
  "or set GALLERY_CHROMIUM to a Chromium binary" >&2
exit 1
