#!/usr/bin/env bash
# `make bench`: every bench/*.py script (common.py is their shared machinery), one after another.
# wrk is the preferred load client (the Python fallback costs the server some CPU): on Debian,
# `apt-get install wrk`.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
command -v wrk >/dev/null || echo "note: wrk not found, using the Python load client" >&2
status=0
for script in bench/*.py; do
  name=$(basename "$script" .py)
  case "$name" in common | __init__) continue ;; esac
  echo "=== bench/$name.py ==="
  "$PY" -m "bench.$name" "$@" || { echo "bench/$name.py failed" >&2; status=1; }
  echo
done
exit $status
