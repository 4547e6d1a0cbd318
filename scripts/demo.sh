#!/usr/bin/env bash
# Start fieldapp with synthetic demo data on the embedded SQLite database (./var/fieldapp.db).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
fi
stamp=".venv/.app-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install --disable-pip-version-check -q -e .
  touch "$stamp"
fi
.venv/bin/fieldapp demo
exec .venv/bin/fieldapp serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
