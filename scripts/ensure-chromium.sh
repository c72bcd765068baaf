#!/usr/bin/env bash
# Debian's chromium (and a Japanese font, so the Japanese page's screenshot is readable) for
# the report's browser test (tests/test_browser.py). Idempotent: does nothing when both are
# present; installs them with apt-get when running as root (CI, containers); otherwise says
# how, and the browser test skips with that reason.
set -euo pipefail
have_browser() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }
have_ja_font() { fc-list :lang=ja 2>/dev/null | grep -q .; }
if have_browser && have_ja_font; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium and fonts-ipafont-gothic for the browser test (about a minute)..."
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-ipafont-gothic >/dev/null
  command -v chromium
else
  echo "chromium not found and not root: the browser test will be skipped (install it with: sudo apt-get install chromium)" >&2
fi
