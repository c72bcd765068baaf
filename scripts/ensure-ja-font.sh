#!/usr/bin/env bash
# A Japanese font for the Japanese report's figures (oekaki/figures/base.py looks for IPAGothic, then
# Noto Sans CJK JP). Idempotent: does nothing when fontconfig knows a Japanese font; installs Debian's
# fonts-ipafont-gothic when running as root; otherwise says how (the figures then show boxes for kana).
set -euo pipefail
if fc-list :lang=ja 2>/dev/null | grep -q .; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's fonts-ipafont-gothic for the Japanese report's figures..."
  # never fatal: `make run` works offline, the Japanese figures then show boxes for kana (said below)
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-ipafont-gothic fontconfig >/dev/null; }; then
    echo "could not install fonts-ipafont-gothic (no package registry?): the Japanese report's figures will show boxes" >&2
  fi
else
  echo "no Japanese font: the Japanese report's figures will show boxes (install one with: sudo apt-get install fonts-ipafont-gothic)" >&2
fi
