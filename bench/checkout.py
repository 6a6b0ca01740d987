"""Checkout benchmark: orders created per second through the API, against pgbench on the same server.

    .venv/bin/python -m bench.checkout                 # 8 clients, BENCH_SECONDS (10) each part
    .venv/bin/python -m bench.checkout --clients 16

Each simulated shopper logs in once (through the WeChat simulator), adds an address, previews a
3-line order once, then keeps creating that order (a new Idempotency-Key each time) with
POST /api/v1/orders: re-pricing, stock reservation, lines, log, all in one transaction. In the
same run pgbench's tpcb-like load runs on the same PostgreSQL server with as many clients, in its
own database (`<bench database>_pgbench`) initialised at scale 10: at scale 1 its clients queue on
the single branch row and its TPS falls a third below what the server does, which would flatter
the ratio. Goal (DESIGN.md): orders/s ≥ 15% of pgbench's TPS (moonshot 25%), < 40 SQL per order.
For scale, the same clients also load the in-stack bare view and the truly bare app
(bench/bare_app.py), and the orders/s are printed as ratios to both (no goal).

The server is common.Server's default, 2 sync gunicorn workers with persistent connections: on
2 cores 3 sync workers came out within noise of it (±3%), 4 workers and gthread 2 × 4 or 3 × 3
lower.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import requests  # noqa: E402

from bench import common  # noqa: E402

SKU_PREFIX = "BENCH-CO-"
SKU_COUNT = 300
LINES_PER_ORDER = 3
GOAL, MOONSHOT, SQL_GOAL = 0.15, 0.25, 40
PGBENCH_SCALE = 10


def seed() -> list[int]:
    """SKUs with plenty of stock and a default freight template (idempotent)."""
    from catalog.models import Category, Product, Sku
    from orders.models import FreightRule, FreightTemplate

    if not FreightTemplate.objects.filter(is_default=True).exists():
        template = FreightTemplate.objects.create(
            name="默认运费", charge_by="piece", free_over_fen=9900, is_default=True
        )
        FreightRule.objects.create(template=template, first_fee_fen=800, extra_fee_fen=200)
    existing = list(
        Sku.objects.filter(code__startswith=SKU_PREFIX).values_list("pk", flat=True)[:SKU_COUNT]
    )
    if len(existing) >= SKU_COUNT:
        Sku.objects.filter(pk__in=existing).update(stock=10_000_000, is_active=True)
        return existing
    category, _ = Category.objects.get_or_create(name="压测", parent=None)
    for n in range(len(existing), SKU_COUNT):
        product = Product.objects.create(
            title=f"压测商品{n}", category=category, is_on_shelf=True, min_price_fen=1000
        )
        Sku.objects.create(
            product=product,
            code=f"{SKU_PREFIX}{n:05d}",
            specs={"规格": "标准"},
            spec_key="规格:标准",
            price_fen=1000 + n,
            stock=10_000_000,
            weight_g=300,
        )
    return list(
        Sku.objects.filter(code__startswith=SKU_PREFIX).values_list("pk", flat=True)[:SKU_COUNT]
    )


def shopper_prepare(base_url: str, sim_url: str, openid: str, sku_ids: list[int]) -> dict[str, Any]:
    """Log in through the simulator, add an address, preview the order once."""
    code = requests.post(sim_url + "_sim/codes", json={"openid": openid}, timeout=10).json()["code"]
    token = requests.post(base_url + "/api/v1/auth/login", json={"code": code}, timeout=10).json()[
        "token"
    ]
    headers = {"Authorization": f"Token {token}"}
    address = requests.post(
        base_url + "/api/v1/addresses",
        json={
            "name": "压测",
            "phone": "13800138000",
            "province": "浙江省",
            "city": "杭州市",
            "district": "西湖区",
            "detail": "压测路 1 号",
        },
        headers=headers,
        timeout=10,
    ).json()
    body = {
        "lines": [{"sku_id": sku_id, "quantity": 1} for sku_id in sku_ids],
        "address_id": address["id"],
    }
    preview = requests.post(
        base_url + "/api/v1/checkout/preview", json=body, headers=headers, timeout=10
    )
    preview.raise_for_status()
    return {
        "headers": headers,
        "body": body | {"expected_payable_fen": preview.json()["payable_fen"]},
    }


def _client(args: tuple[str, dict[str, Any], float, float]) -> tuple[int, int]:
    """One shopper creating orders back to back. http.client, not requests: ~0.4 ms of client
    CPU per order instead of ~1.2 ms, which the server sharing these cores would lose."""
    base_url, shopper, warmup_seconds, seconds = args
    parts = urlsplit(base_url)
    body = json.dumps(shopper["body"])
    headers = shopper["headers"] | {"Content-Type": "application/json"}
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    created = errors = 0
    start = time.monotonic()
    measure_from, until = start + warmup_seconds, start + warmup_seconds + seconds
    while (now := time.monotonic()) < until:
        try:
            connection.request(
                "POST", "/api/v1/orders", body, headers | {"Idempotency-Key": uuid.uuid4().hex}
            )
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            connection.close()  # the next request opens a new connection
            errors += now >= measure_from
            continue
        if response.getheader("Connection", "").lower() == "close":
            connection.close()  # a sync worker answers one request per connection
        if now >= measure_from:
            if response.status == 201:
                created += 1
            else:
                errors += 1
    connection.close()
    return created, errors


_WRK_SCRIPT = r"""
local shoppers = {%(shoppers)s}
local run = %(run)s
local counter = 0

function request()
  counter = counter + 1
  local shopper = shoppers[((counter - 1) %% #shoppers) + 1]
  return wrk.format("POST", "/api/v1/orders", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = shopper[1],
    ["Idempotency-Key"] = run .. "-" .. counter,
  }, shopper[2])
end

function done(summary, latency, requests)
  io.write(string.format(
    "WRKJSON {\"requests\": %%d, \"duration_us\": %%d, \"errors\": %%d}\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout + summary.errors.status))
end
"""


def _wrk_orders(base_url: str, shoppers: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """wrk (C, one thread) posting the shoppers' orders in turn over len(shoppers) keep-alive
    connections, each request with a new Idempotency-Key; an answer of 400 or more counts as an
    error. Returns requests, seconds and errors."""
    entries = ", ".join(
        "{"
        + common._lua_string(shopper["headers"]["Authorization"])
        + ", "
        + common._lua_string(json.dumps(shopper["body"]))
        + "}"
        for shopper in shoppers
    )
    script = _WRK_SCRIPT % {"shoppers": entries, "run": common._lua_string(uuid.uuid4().hex)}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        completed = subprocess.run(
            [
                *("wrk", "-t1", f"-c{len(shoppers)}", f"-d{max(1, round(seconds))}s"),
                *("--timeout", "30s", "-s", handle.name, base_url),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(handle.name)
    return common.wrk_result(completed.stdout)


def orders_per_second(
    base_url: str, shoppers: list[dict[str, Any]], seconds: float
) -> tuple[float, int]:
    """Orders created per second by len(shoppers) concurrent clients after a warm-up: wrk when
    installed (it leaves the server the CPU a Python client would take), else one Python
    process per shopper."""
    if common._client_kind() == "wrk":
        _wrk_orders(base_url, shoppers, common.WARMUP_SECONDS)
        common.checkpoint()
        result = _wrk_orders(base_url, shoppers, seconds)
        created = result["requests"] - result["errors"]
        return created / result["seconds"], result["errors"]
    common.checkpoint()
    context = multiprocessing.get_context("spawn")
    jobs = [(base_url, shopper, common.WARMUP_SECONDS, seconds) for shopper in shoppers]
    with context.Pool(len(jobs)) as pool:
        results = pool.map(_client, jobs)
    return sum(created for created, _ in results) / seconds, sum(err for _, err in results)


def sql_per_order(sku_ids: list[int]) -> int:
    """Queries of one POST /api/v1/orders, counted in-process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from mall.celery import app
    from members.models import Member
    from members.services import member_token_issue
    from orders.models import Address
    from orders.services import address_create

    member, _ = Member.objects.get_or_create(openid="bench-checkout-sql")
    address = Address.objects.filter(member=member).first() or address_create(
        member=member,
        name="压测",
        phone="13800138000",
        province="浙江省",
        city="杭州市",
        district="西湖区",
        detail="压测路 2 号",
    )
    client = Client(HTTP_AUTHORIZATION=f"Token {member_token_issue(member=member)}")
    body = {"lines": [{"sku_id": s, "quantity": 1} for s in sku_ids], "address_id": address.pk}
    payable = client.post("/api/v1/checkout/preview", body, content_type="application/json").json()[
        "payable_fen"
    ]
    app.conf.task_always_eager = False  # as in the server: the expiry task is queued, not run
    with CaptureQueriesContext(connection) as queries:
        answer = client.post(
            "/api/v1/orders",
            body | {"expected_payable_fen": payable},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )
    if answer.status_code != 201:
        raise RuntimeError(f"POST /api/v1/orders answered {answer.status_code}: {answer.content!r}")
    return len(queries)


def pgbench_database() -> str:
    """pgbench's own database, beside the benchmark's: `<bench database>_pgbench`."""
    return urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/") + "_pgbench"


def pgbench_tps(clients: int, seconds: float, *, scale: int = PGBENCH_SCALE) -> float:
    """pgbench's built-in tpcb-like script on the same server, in its own database, freshly
    initialised at `scale` (every run starts from the same tables)."""
    url = urlsplit(os.environ["DATABASE_URL"])
    database = pgbench_database()
    common.database_ensure(url._replace(path=f"/{database}").geturl())
    connection = ["-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432)]
    connection += ["-U", url.username or "postgres"]
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    subprocess.run(
        ["pgbench", "-i", "-q", "-s", str(scale), *connection, database],
        check=True,
        env=env,
        capture_output=True,
    )
    threads = max(1, min(clients, os.cpu_count() or 1))
    common.checkpoint()  # after -i's writes, as before the orders part
    run = subprocess.run(
        [
            "pgbench",
            "-n",
            *("-c", str(clients), "-j", str(threads), "-T", str(int(seconds))),
            *connection,
            database,
        ],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    found = re.search(r"tps = ([\d.]+)", run.stdout)
    if found is None:
        raise RuntimeError(f"no tps in pgbench output: {run.stdout}")
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=common.SECONDS)
    parser.add_argument("--pgbench-scale", type=int, default=PGBENCH_SCALE)
    args = parser.parse_args()

    common.django_setup()
    from wechat_sim import start_simulator

    sku_ids = seed()
    rng = random.Random(42)
    sql = sql_per_order(rng.sample(sku_ids, LINES_PER_ORDER))
    with start_simulator(port=0) as sim:
        extra = {
            "WECHAT_API_BASE": sim.base_url,
            "WECHAT_PAY_API_BASE": sim.base_url,
            # Production-like: each order's expiry task goes to the broker with its countdown
            # (purged after the run) instead of running inside the request.
            "CELERY_TASK_ALWAYS_EAGER": "false",
        }
        with common.Server(extra_env=extra) as server:
            shoppers = [
                shopper_prepare(
                    server.base_url,
                    sim.base_url,
                    f"bench-checkout-{uuid.uuid4().hex[:8]}-{n}",
                    rng.sample(sku_ids, LINES_PER_ORDER),
                )
                for n in range(args.clients)
            ]
            rate, errors = orders_per_second(server.base_url, shoppers, args.seconds)
            bare = common.load(
                "bare",
                server.base_url,
                ["/_bench/bare"],
                clients=args.clients,
                seconds=args.seconds,
            )
            described = server.describe()
    truly_bare = common.bare_app_load(clients=args.clients, seconds=args.seconds)
    from mall.celery import app

    app.control.purge()  # the expiry tasks the orders queued (no worker runs here)
    tps = pgbench_tps(args.clients, args.seconds, scale=args.pgbench_scale)
    ratio = common.ratio(rate, tps)
    verdict = "moonshot" if ratio >= MOONSHOT else "ok" if ratio >= GOAL else "BELOW GOAL"
    print(f"server: {described}, {args.clients} clients, {args.seconds:.0f} s each part")
    print(f"orders created/s:      {rate:8.1f}   (errors: {errors})")
    print(
        f"pgbench tpcb-like TPS: {tps:8.1f}   (scale {args.pgbench_scale}, {args.clients} "
        f"clients, database {pgbench_database()})"
    )
    print(f"ratio:                 {ratio:8.3f}   goal ≥ {GOAL} (moonshot {MOONSHOT}): {verdict}")
    print(
        f"in-stack bare view:    {bare.rps:8.1f}   req/s ({common.client_describe(args.clients, args.seconds)}); "
        f"orders/s {common.ratio(rate, bare.rps):.3f}× of it"
    )
    print(
        f"truly bare app:        {truly_bare.rps:8.1f}   req/s; orders/s "
        f"{common.ratio(rate, truly_bare.rps):.3f}× of it (in-stack bare "
        f"{common.ratio(bare.rps, truly_bare.rps):.2f}×)"
    )
    sql_verdict = "ok" if sql < SQL_GOAL else "ABOVE GOAL"
    print(f"SQL per order created: {sql:8d}   goal < {SQL_GOAL}: {sql_verdict}")


if __name__ == "__main__":
    main()
