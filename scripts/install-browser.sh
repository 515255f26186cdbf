#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests when it is missing (never a Playwright browser download).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "chromium not found; the browser tests will be skipped (install Debian's chromium to run them)" >&2
fi
