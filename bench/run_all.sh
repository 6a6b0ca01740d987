#!/usr/bin/env bash
# `make bench`: every bench/*.py script (common.py is their shared machinery, bare_app.py the truly
# bare baseline they start themselves), one after another.
# wrk is the preferred load client (the Python fallback costs the server some CPU): when missing it
# is installed with apt-get if this runs as root or with password-less sudo (BENCH_INSTALL_WRK=0
# skips that); otherwise the benches use the Python client.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if ! command -v wrk >/dev/null && [ "${BENCH_INSTALL_WRK:-1}" != 0 ] && command -v apt-get >/dev/null; then
  if [ "$(id -u)" = 0 ]; then SUDO=(); elif sudo -n true 2>/dev/null; then SUDO=(sudo -n); else SUDO=(false); fi
  echo "wrk not found: installing it with apt-get…" >&2
  { "${SUDO[@]}" apt-get install -y -qq wrk || { "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq wrk; }; } >/dev/null 2>&1 \
    || echo "could not install wrk" >&2
fi
command -v wrk >/dev/null || echo "note: wrk not found, using the Python load client" >&2
status=0
for script in bench/*.py; do
  name=$(basename "$script" .py)
  case "$name" in common | bare_app | __init__) continue ;; esac
  echo "=== bench/$name.py ==="
  "$PY" -m "bench.$name" "$@" || { echo "bench/$name.py failed" >&2; status=1; }
  echo
done
exit $status
