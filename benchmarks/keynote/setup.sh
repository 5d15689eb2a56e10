#!/usr/bin/env bash
# Installs what the keynote benchmark's peers and load generators need, if missing:
#   PostgreSQL server (Debian package; the benchmark runs a private cluster in a temp dir),
#   the asyncpg driver in the project's venv, and the pinned npm SDK in tests/node.
# Run as root (apt-get). Idempotent.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  apt-get update
  apt-get install -y postgresql
fi

if ! "$python" -c "import asyncpg" 2>/dev/null; then
  "$python" -m pip install -e "$repo[bench]"
fi

if [ ! -d "$repo/tests/node/node_modules/spacetimedb" ]; then
  (cd "$repo/tests/node" && npm ci)
fi
echo "keynote benchmark dependencies are installed"
