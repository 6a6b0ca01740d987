#!/usr/bin/env bash
# `make run`: start the embedded PostgreSQL (unless DATABASE_URL is set), migrate, seed the demo,
# start the WeChat simulator and the web server; on exit stop the simulator and that PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT=${PORT:-8000}
SIM_PORT=${SIM_PORT:-8700}
export WECHAT_API_BASE=${WECHAT_API_BASE:-http://127.0.0.1:${SIM_PORT}/}
export WECHAT_PAY_API_BASE=${WECHAT_PAY_API_BASE:-$WECHAT_API_BASE}
# The simulator posts payment notifications back to this server.
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://127.0.0.1:${PORT}}

SIM_PID=
EMBEDDED=
cleanup() {
  if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; fi
  if [ -n "$EMBEDDED" ]; then $PY -m mall.embedded_postgres stop || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${DATABASE_URL:-}" ]; then
  # The checkout's own PostgreSQL in .pgdata (a Unix socket there, no TCP port): started, or
  # reused if it already runs; its data stays for the next `make run`.
  EMBEDDED=1
  DATABASE_URL=$($PY -m mall.embedded_postgres start)
  export DATABASE_URL
fi

$PY manage.py migrate --noinput
$PY manage.py seed_demo

$PY -m wechat_sim --host 127.0.0.1 --port "$SIM_PORT" &
SIM_PID=$!

cat <<INFO

  商城已启动 / the shop is up
  Admin (管理后台):   http://127.0.0.1:${PORT}/admin/     (user admin, password printed above)
  API docs (Swagger): http://127.0.0.1:${PORT}/api/docs/
  OpenAPI schema:     http://127.0.0.1:${PORT}/api/schema/
  Health:             http://127.0.0.1:${PORT}/healthz
  WeChat simulator:   ${WECHAT_API_BASE}   (control API under /_sim/)
INFO
if [ -n "$EMBEDDED" ]; then
  echo "  Database: embedded PostgreSQL in .pgdata (stopped when this exits)   Redis: ${REDIS_URL:-none}"
  echo "    manage.py in another shell uses it while this runs: .venv/bin/python manage.py shell"
else
  echo "  Database: ${DATABASE_URL}   Redis: ${REDIS_URL:-none}"
fi
if [ -n "${REDIS_URL:-}" ]; then
  cat <<INFO
  Celery runs on Redis: start a worker and beat in two other shells:
    .venv/bin/celery -A mall worker -l info
    .venv/bin/celery -A mall beat -l info
INFO
else
  echo "  No REDIS_URL: Celery tasks run eagerly inside the web process."
fi
echo

$PY manage.py runserver "0.0.0.0:${PORT}"
