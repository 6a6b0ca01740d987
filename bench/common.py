"""Shared machinery of the benchmarks (bench/*.py; `make bench` runs them all).

Every figure is a ratio to two baselines measured in the same run with the same client, so the
numbers compare across machines: the in-stack bare endpoint (/_bench/bare: a DRF view doing one
query inside our project, its middleware and settings), and the truly bare application
(bench/bare_app.py: one file, no middleware, no authentication, the JSON renderer only, one
`SELECT 1` on a persistent connection), the ceiling of a DRF endpoint on this machine. The pieces:

- `django_setup()`: this process uses the benchmark database (`mall_bench`, created if missing,
  migrated; DATABASE_URL overrides) and Redis db 13, with production-like settings (DEBUG off).
- `Server`: gunicorn serving mall.wsgi on a free port, as a subprocess with the same settings,
  2 sync workers, persistent database connections (DB_CONN_MAX_AGE=600), BENCH_ENDPOINTS on.
- `BareApp`: gunicorn serving bench/bare_app.py the same way (workers, class, flags);
  `bare_app_load()` starts it, loads it like `load()` does and stops it.
- `load()`: N concurrent keep-alive clients for a while; requests/s and latency percentiles.
  It uses wrk when installed (C, one thread: it leaves the server the CPU), else a Python client
  in worker processes (so the client's GIL does not cap the server). Bare and targets are
  always measured with the same client.
- `sql_per_request()`: the queries one request makes, counted in-process with
  CaptureQueriesContext, cold (empty cache) and warm.
- `table()`: prints the results.

Environment knobs: BENCH_CLIENTS (default 16), BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (2),
BENCH_WORKER_CLASS (sync; or gthread), BENCH_THREADS (4, gthread only), BENCH_CLIENT (wrk|python).
"""

import json
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/mall_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
WARMUP_SECONDS = float(os.environ.get("BENCH_WARMUP_SECONDS", "2"))
# sync, not gthread: measured here, 2 sync workers serve the bare view at ~1,550 req/s steadily,
# while 2 gthread workers (4 threads) swing between ~700 and ~1,430 (keep-alive connections pile
# onto one worker, leaving the other core idle). Behind a load balancer sync is the usual choice.
WORKER_CLASS = os.environ.get("BENCH_WORKER_CLASS", "sync")
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))


def bench_env() -> dict[str, str]:
    """The settings of the benchmark: this process and the server use the same."""
    return {
        "DATABASE_URL": os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        "DJANGO_SETTINGS_MODULE": "mall.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret-key-not-for-production",
        "WECHAT_SECRET": "sim-app-secret-000000000000000000",
        "WECHAT_API_KEY": "simapikey0000000000000000000000k",
        "ALLOWED_HOSTS": "*",
        "DB_CONN_MAX_AGE": "600",
        "BENCH_ENDPOINTS": "1",
        "CELERY_TASK_ALWAYS_EAGER": "true",  # no worker runs during a benchmark
        "LOG_LEVEL": "WARNING",
    }


def database_ensure(url: str) -> None:
    """Create the PostgreSQL database of `url` when it does not exist."""
    import psycopg2
    from psycopg2 import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    connection = psycopg2.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname="postgres",
    )
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        connection.close()


def django_setup() -> None:
    """Point this process at the benchmark database and Redis, set Django up, migrate."""
    os.environ.update(bench_env())
    database_ensure(os.environ["DATABASE_URL"])
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def database_use(url: str) -> None:
    """Switch this process (and servers started afterwards) to another benchmark database:
    created if missing, migrated."""
    from django.core.management import call_command
    from django.db import connections

    database_ensure(url)
    os.environ["DATABASE_URL"] = url
    connection = connections["default"]
    connection.close()
    connection.settings_dict["NAME"] = urlsplit(url).path.lstrip("/")
    call_command("migrate", verbosity=0, interactive=False)


def checkpoint() -> None:
    """Have PostgreSQL write out its dirty buffers before a measured part, so that a checkpoint
    forced by the previous part's WAL (pgbench -i, the orders) does not land inside this one:
    every measured part starts from the same state. Needs a superuser; skipped otherwise."""
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError:
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """gunicorn serving mall.wsgi in a subprocess (use as a context manager)."""

    app = "mall.wsgi"
    ready_path = "/_bench/bare"

    def __init__(
        self,
        *,
        workers: int = WORKERS,
        worker_class: str = WORKER_CLASS,
        threads: int = THREADS,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.worker_class = worker_class
        self.threads = threads
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def describe(self) -> str:
        threads = f" × {self.threads} threads" if self.worker_class == "gthread" else ""
        return f"gunicorn {self.workers} workers ({self.worker_class}{threads})"

    def __enter__(self) -> "Server":
        command = [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            self.app,
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--worker-class",
            self.worker_class,
            "--log-level",
            "warning",
            "--keep-alive",
            "30",
            "--backlog",
            "2048",
        ]
        if self.worker_class == "gthread":
            command += ["--threads", str(self.threads)]
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.environment())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn {self.app} exited with {self.process.returncode}")
            try:
                if requests.get(self.base_url + self.ready_path, timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"gunicorn {self.app} did not answer {self.ready_path} within 30 s")

    def environment(self) -> dict[str, str]:
        return {**os.environ, **bench_env(), **self.extra_env}

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class BareApp(Server):
    """gunicorn serving bench/bare_app.py, the truly bare baseline, with the same workers, worker
    class and flags as `Server`, on its own port, against the same database."""

    app = "bench.bare_app:application"
    ready_path = "/"

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env.pop("DJANGO_SETTINGS_MODULE", None)  # it configures its own settings
        env["BARE_DATABASE_URL"] = env["DATABASE_URL"]
        return env


def bare_app_load(
    *,
    clients: int = CLIENTS,
    seconds: float = SECONDS,
    warmup_seconds: float = WARMUP_SECONDS,
    name: str = "truly bare app (SELECT 1)",
) -> "LoadResult":
    """Start the truly bare app, measure it with `load()` (the same client, connections and
    duration as the figure it is compared with), stop it. Call it while our own server is
    stopped, so both are measured on an otherwise idle machine."""
    bare_app_note()
    with BareApp() as app:
        return load(
            name,
            app.base_url,
            [BareApp.ready_path],
            clients=clients,
            seconds=seconds,
            warmup_seconds=warmup_seconds,
        )


def bare_app_note() -> None:
    """Say so when the Python client measures the truly bare app: on a small machine it runs out
    of CPU before that app does, and the ratios to it come out flattering."""
    if _client_kind() != "wrk":
        print(
            "note: the Python load client caps the truly bare app on a small machine; "
            "its ratios are meaningful with wrk",
            flush=True,
        )


def ratio(value: float, base: float) -> float:
    return value / base if base else 0.0


def goal_verdict(value: float, goal: float) -> str:
    return "ok" if value >= goal else "BELOW GOAL"


@dataclass(frozen=True)
class LoadResult:
    name: str
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _client_kind() -> str:
    wanted = os.environ.get("BENCH_CLIENT", "")
    if wanted:
        return wanted
    return "wrk" if shutil.which("wrk") else "python"


def client_describe(clients: int = CLIENTS, seconds: float = SECONDS) -> str:
    kind = _client_kind()
    return f"{kind} ({clients} connections, {seconds:g} s after {WARMUP_SECONDS:g} s warm-up)"


_WRK_SCRIPT = """
local paths = %(paths)s
local counter = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counter = math.random(#paths)
end

function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1], {["Accept"] = "application/json"})
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout + summary.errors.status
  io.write(string.format(
    "WRKJSON {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"errors\\": %%d, "
    .. "\\"p50\\": %%d, \\"p95\\": %%d, \\"p99\\": %%d}\\n",
    summary.requests, summary.duration, errors,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wrk(base_url: str, paths: Sequence[str], clients: int, seconds: float) -> dict[str, Any]:
    script = _WRK_SCRIPT % {"paths": "{" + ", ".join(_lua_string(p) for p in paths) + "}"}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        completed = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{clients}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                file.name,
                base_url,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        Path(file.name).unlink()
    return wrk_result(completed.stdout)


def wrk_result(stdout: str) -> dict[str, Any]:
    """The figures a wrk script's done() prints as one line, "WRKJSON {requests, duration_us,
    errors[, p50, p95, p99 in µs]}": requests, seconds, errors and the percentiles in ms."""
    line = next(ln for ln in stdout.splitlines() if ln.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    result = {
        "requests": data["requests"],
        "seconds": data["duration_us"] / 1e6,
        "errors": data["errors"],
    }
    for name in ("p50", "p95", "p99"):
        if name in data:
            result[f"{name}_ms"] = data[name] / 1000
    return result


def _python_worker(args: tuple[str, int, list[str], int, float, int]) -> tuple[list[float], int]:
    """One client process: `connections` threads, each with a keep-alive HTTP connection."""
    import http.client
    import threading

    host, port, paths, connections, seconds, offset = args
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run(start: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=10)
        mine: list[float] = []
        index = start
        while time.monotonic() < deadline:
            path = paths[index % len(paths)]
            index += 1
            began = time.perf_counter()
            try:
                connection.request("GET", path, headers={"Accept": "application/json"})
                answer = connection.getresponse()
                answer.read()
                if answer.status >= 400:
                    with lock:
                        errors[0] += 1
                if answer.getheader("Connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException):
                with lock:
                    errors[0] += 1
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=10)
                continue
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(offset + i * 7919,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0]


def _python_load(
    base_url: str, paths: Sequence[str], clients: int, seconds: float
) -> dict[str, Any]:
    parts = urlsplit(base_url)
    processes = min(clients, max(1, (os.cpu_count() or 2)))
    shares = [
        clients // processes + (1 if i < clients % processes else 0) for i in range(processes)
    ]
    jobs = [
        (parts.hostname or "127.0.0.1", parts.port or 80, list(paths), share, seconds, i * 104729)
        for i, share in enumerate(shares)
        if share
    ]
    began = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        results = pool.map(_python_worker, jobs)
    elapsed = max(seconds, time.monotonic() - began - 0.5)  # pool start-up is not load
    latencies = sorted(x for batch, _ in results for x in batch)
    errors = sum(e for _, e in results)

    def percentile(share: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(share * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "seconds": min(elapsed, seconds),
        "errors": errors,
        "p50_ms": percentile(0.50),
        "p95_ms": percentile(0.95),
        "p99_ms": percentile(0.99),
    }


def load(
    name: str,
    base_url: str,
    paths: Sequence[str],
    *,
    clients: int = CLIENTS,
    seconds: float = SECONDS,
    warmup_seconds: float = WARMUP_SECONDS,
) -> LoadResult:
    """Hammer `paths` (cycled, each client starting elsewhere) and measure."""
    run = _wrk if _client_kind() == "wrk" else _python_load
    if warmup_seconds > 0:
        run(base_url, paths, clients, warmup_seconds)
    data = run(base_url, paths, clients, seconds)
    return LoadResult(name=name, **data)


@dataclass(frozen=True)
class SqlCount:
    cold: int
    warm: int
    cold_ms: float


def cache_clear() -> None:
    """An empty cache in this process: the shared one and the catalogue's local copies."""
    from django.core.cache import cache

    from catalog.cache import catalog_cache_forget_local

    cache.clear()
    catalog_cache_forget_local()


def sql_per_request(path: str) -> SqlCount:
    """Queries of one GET `path` in-process: with an empty cache (cold), then again (warm)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    cache_clear()
    with CaptureQueriesContext(connection) as cold:
        began = time.perf_counter()
        answer = client.get(path)
        cold_ms = (time.perf_counter() - began) * 1000
    if answer.status_code != 200:
        raise RuntimeError(f"GET {path} answered {answer.status_code}: {answer.content[:300]!r}")
    with CaptureQueriesContext(connection) as warm:
        client.get(path)
    return SqlCount(
        cold=len(cold.captured_queries), warm=len(warm.captured_queries), cold_ms=cold_ms
    )


def django_client() -> Any:
    """An in-process test client (same settings, database and cache as the server)."""
    from django.test import Client

    return Client()


def cold_latencies_ms(paths: Sequence[str]) -> list[float]:
    """In-process latency of each path with an empty cache (what a cache miss costs)."""
    from django.test import Client

    client = Client()
    timings = []
    for path in paths:
        cache_clear()
        began = time.perf_counter()
        answer = client.get(path)
        timings.append((time.perf_counter() - began) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path} answered {answer.status_code}")
    return timings


def p95(values: Sequence[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table (right-aligned numbers)."""
    cells = [[str(h) for h in headers]] + [
        [f"{c:,.2f}" if isinstance(c, float) else str(c) for c in row] for row in rows
    ]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(_pad(cell, widths[i], i > 0 and n > 0) for i, cell in enumerate(row))
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _width(text: str) -> int:
    # CJK characters take two columns in a terminal.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    padding = " " * (width - _width(text))
    return padding + text if right else text + padding


@contextmanager
def timed(label: str) -> Iterator[None]:
    began = time.monotonic()
    yield
    print(f"{label}: {time.monotonic() - began:.1f} s", flush=True)
