"""Per-request cost in-process: our stack's WSGI handler called directly, no server, no client.

    .venv/bin/python bench/overhead.py                  # µs per request, ours and the bare app's
    .venv/bin/python bench/overhead.py --profile list   # cProfile of one endpoint, top 40

Builds a WSGI environ for each path and calls the WSGI application N times, timing CPU
(process time: what this process spends, not the database's) and wall time. Our stack runs with
the benchmark's production-like settings (bench/common.py); the truly bare app
(bench/bare_app.py) configures its own settings, so it is measured in a child process.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import common  # noqa: E402

Application = Callable[[dict[str, Any], Callable[..., Any]], Any]


def environ_for(path: str) -> dict[str, Any]:
    path_info, _, query = path.partition("?")
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_ACCEPT": "*/*",
        "HTTP_USER_AGENT": "bench-overhead",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def call(application: Application, path: str) -> int:
    status: list[str] = []

    def start_response(code: str, headers: list, exc_info: Any = None) -> None:
        status.append(code)

    response = application(environ_for(path), start_response)
    for _chunk in response:
        pass
    if hasattr(response, "close"):
        response.close()
    return int(status[0].split()[0])


def measure(
    application: Application, paths: list[str], requests: int, rounds: int = 7
) -> dict[str, float]:
    """µs of CPU and of wall time per request, cycling through paths after a warm-up: the best
    of a few rounds (the machine may be shared; interference only ever adds time)."""
    for path in paths * 3:
        code = call(application, path)
        if code != 200:
            raise RuntimeError(f"{path} answered {code}")
    per_round = max(requests // rounds, 1)
    best_cpu = best_wall = float("inf")
    for _ in range(rounds):
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(per_round):
            call(application, paths[i % len(paths)])
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return {"cpu_us": best_cpu / per_round * 1e6, "wall_us": best_wall / per_round * 1e6}


def calls_per_request(application: Application, paths: list[str], requests: int = 50) -> float:
    """Python function calls per request: a figure that machine load does not move."""
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(requests):
        call(application, paths[i % len(paths)])
    profiler.disable()
    return pstats.Stats(profiler).total_calls / requests  # type: ignore[attr-defined]


def bare_app_measure(requests: int) -> dict[str, float]:
    env = {**os.environ, **common.bench_env()}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    output = subprocess.run(
        [sys.executable, __file__, "--child-bare", "--requests", str(requests)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def our_paths() -> dict[str, list[str]]:
    from catalog.models import Product

    ids = list(
        Product.objects.filter(is_on_shelf=True).order_by("pk").values_list("pk", flat=True)[:20]
    ) or list(Product.objects.order_by("pk").values_list("pk", flat=True)[:20])
    return {
        "bare": ["/_bench/bare"],
        "list": ["/api/v1/products?page_size=20", "/api/v1/products?page_size=20&ordering=sales"],
        "detail": [f"/api/v1/products/{pk}" for pk in ids],
        "search": ["/api/v1/products?q=%E8%8C%B6", "/api/v1/products?q=%E5%92%96%E5%95%A1"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--profile", choices=["bare", "list", "detail", "search"])
    parser.add_argument("--child-bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child_bare:
        from bench import bare_app

        result = measure(bare_app.application, ["/"], args.requests)
        result["calls"] = calls_per_request(bare_app.application, ["/"])
        print(json.dumps(result))
        return

    os.environ.update(common.bench_env())
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    application = WSGIHandler()
    paths = our_paths()
    if args.profile:
        measure(application, paths[args.profile], 50)
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for i in range(args.requests):
            call(application, paths[args.profile][i % len(paths[args.profile])])
        profiler.disable()
        stats = pstats.Stats(profiler).sort_stats("cumulative")
        stats.print_stats(60)
        stats.sort_stats("tottime").print_stats(40)
        return

    truly_bare = bare_app_measure(args.requests)
    print(f"{'':10}{'CPU µs':>10}{'wall µs':>10}{'calls':>8}{'bare app ÷ ours (CPU)':>24}")
    print(
        f"{'bare app':10}{truly_bare['cpu_us']:10.0f}{truly_bare['wall_us']:10.0f}"
        f"{truly_bare['calls']:8.0f}"
    )
    for name, name_paths in paths.items():
        result = measure(application, name_paths, args.requests)
        calls = calls_per_request(application, name_paths)
        share = truly_bare["cpu_us"] / result["cpu_us"]
        print(
            f"{name:10}{result['cpu_us']:10.0f}{result['wall_us']:10.0f}{calls:8.0f}{share:23.2f}×"
        )


if __name__ == "__main__":
    main()
