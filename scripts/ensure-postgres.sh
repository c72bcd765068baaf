#!/usr/bin/env bash
# Debian's PostgreSQL server binaries for tests/test_postgres.py (the MLflow store on a real
# PostgreSQL). Idempotent; installs with apt-get when running as root, otherwise says how (the
# test then skips with that reason). The test starts its own server as the postgres user
# (initdb and postgres refuse to run as root) on 127.0.0.1 and stops it.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's postgresql for the PostgreSQL test (about a minute)..."
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  ls /usr/lib/postgresql/*/bin/initdb
else
  echo "PostgreSQL not found and not root: tests/test_postgres.py will be skipped (sudo apt-get install postgresql)" >&2
fi
