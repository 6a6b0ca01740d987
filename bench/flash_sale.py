"""Flash-sale benchmark: a rush of buyers on a few units, admission through Redis, never oversold.

    .venv/bin/python -m bench.flash_sale                          # 2,000 buyers on 100 units
    .venv/bin/python -m bench.flash_sale --buyers 200 --units 20 --seconds 3

Before the timed part every simulated buyer logs in for real (a code from the WeChat simulator,
then POST /api/v1/auth/login), so each request carries its own member token. Then, against
gunicorn (common.Server: 2 sync workers) in one run:

1. the rush: every buyer asks once, all at once, with BENCH_CLIENTS concurrent keep-alive
   connections: POST /api/v1/flash/items/{id}/admit (the token lookup and one Lua call in Redis);
2. the admitted buyers place their orders (POST /api/v1/orders with promotion flash) and pay them
   through the simulator (not timed);
3. sustained admission: the buyers keep asking for BENCH_SECONDS (answers: their admission again,
   sold out or limit reached, each the full path) and, with the same client (wrk when installed,
   else the Python clients), the bare DRF view (/_bench/bare, one query) for as long, in halves
   ordered bare, admission, admission, bare;
4. then, our server stopped, the truly bare app (bench/bare_app.py: one file, no middleware, one
   `SELECT 1`) with the same client, connections and duration (two halves after a warm-up).
It prints admitted, orders created, oversold (units in flash orders and takes beyond the item's
flash stock: must be 0), the admission requests/s and their ratios to both bare baselines.
Goal (DESIGN.md): admission ≥ 0.7× the in-stack bare view, 0 oversold.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import requests  # noqa: E402

from bench import common  # noqa: E402

SKU_CODE = "BENCH-FLASH-0"
GOAL = 0.7
PROCESSES = 2  # client processes (their threads share BENCH_CLIENTS connections)


def seed(units: int) -> int:
    """A SKU with plenty of stock and a running session with one flash item of `units`."""
    from django.utils import timezone

    from catalog.models import Category, Product, Sku
    from marketing.models import FlashSession
    from marketing.services.flash_sale import flash_counters_reconcile, flash_item_create

    sku = Sku.objects.filter(code=SKU_CODE).first()
    if sku is None:
        category, _ = Category.objects.get_or_create(name="压测", parent=None)
        product = Product.objects.create(
            title="压测秒杀商品", category=category, is_on_shelf=True, min_price_fen=9900
        )
        sku = Sku.objects.create(
            product=product,
            code=SKU_CODE,
            specs={"规格": "标准"},
            spec_key="规格:标准",
            price_fen=9900,
            stock=0,
            weight_g=300,
        )
    Sku.objects.filter(pk=sku.pk).update(stock=10_000_000, is_active=True)
    now = timezone.now()
    session = FlashSession.objects.create(
        name=f"压测场 {uuid.uuid4().hex[:6]}",
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=1),
    )
    item = flash_item_create(
        session=session, sku_id=sku.pk, flash_price_fen=990, total_stock=units, per_member_limit=1
    )
    flash_counters_reconcile(item_ids=[item.pk])
    return item.pk


def buyer_login(base_url: str, sim_url: str, openid: str) -> str:
    session = requests.Session()
    code = session.post(sim_url + "_sim/codes", json={"openid": openid}, timeout=30).json()["code"]
    answer = session.post(base_url + "/api/v1/auth/login", json={"code": code}, timeout=30)
    answer.raise_for_status()
    return answer.json()["token"]


def buyers_login(base_url: str, sim_url: str, count: int) -> list[str]:
    run = uuid.uuid4().hex[:6]
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(
            pool.map(
                lambda n: buyer_login(base_url, sim_url, f"bench-flash-{run}-{n}"), range(count)
            )
        )


def _client(args: tuple[Any, ...]) -> dict[str, Any]:
    """One client process: `threads` keep-alive connections. mode "once": each request of
    `jobs` is sent once (the rush); "loop": the jobs are cycled until `seconds` have passed.
    A job is (method, path, token or None, body or None)."""
    host, port, jobs, threads, mode, seconds, offset = args
    statuses: dict[int, int] = {}
    admitted: list[int] = []
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    next_job = [0]
    deadline = time.monotonic() + seconds

    def take(mine: list[int]) -> int | None:
        if mode == "loop":
            if time.monotonic() >= deadline:
                return None
            mine[0] += 1
            return mine[0] % len(jobs)
        with lock:
            if next_job[0] >= len(jobs):
                return None
            next_job[0] += 1
            return next_job[0] - 1

    def run(start: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        mine = [start]
        own_statuses: dict[int, int] = {}
        own_latencies: list[float] = []
        own_admitted: list[int] = []
        while (index := take(mine)) is not None:
            method, path, token, body = jobs[index]
            headers = {"Accept": "application/json"}
            if token:
                headers["Authorization"] = f"Token {token}"
            if body is not None:
                headers["Content-Type"] = "application/json"
            began = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers)
                answer = connection.getresponse()
                answer.read()
            except (OSError, http.client.HTTPException):
                with lock:
                    errors[0] += 1
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=30)
                continue
            own_latencies.append(time.perf_counter() - began)
            own_statuses[answer.status] = own_statuses.get(answer.status, 0) + 1
            if mode == "once" and answer.status == 200:
                own_admitted.append(index)
            if answer.getheader("Connection", "").lower() == "close":
                connection.close()  # a sync worker may close; the next request reconnects
        with lock:
            latencies.extend(own_latencies)
            admitted.extend(own_admitted)
            for status, count in own_statuses.items():
                statuses[status] = statuses.get(status, 0) + count

    workers = [
        threading.Thread(target=run, args=(offset + i * 7919,)) for i in range(max(1, threads))
    ]
    began = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {
        "statuses": statuses,
        "admitted": admitted,
        "latencies": latencies,
        "errors": errors[0],
        "seconds": time.monotonic() - began,
    }


def hammer(
    base_url: str, jobs: list[tuple[Any, ...]], *, mode: str, seconds: float = 0
) -> dict[str, Any]:
    """Send `jobs` with BENCH_CLIENTS connections over PROCESSES client processes."""
    parts = urlsplit(base_url)
    threads = max(1, common.CLIENTS // PROCESSES)
    if mode == "once":  # each process sends its own slice once
        shares = [jobs[i::PROCESSES] for i in range(PROCESSES)]
    else:
        shares = [jobs] * PROCESSES
    tasks = [
        (parts.hostname, parts.port, share, threads, mode, seconds, i * 104729)
        for i, share in enumerate(shares)
        if share
    ]
    with multiprocessing.get_context("spawn").Pool(len(tasks)) as pool:
        results = pool.map(_client, tasks)
    statuses: dict[int, int] = {}
    for result in results:
        for status, count in result["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    # Admitted job indexes, mapped back from each process's slice.
    admitted = [
        n * PROCESSES + i
        for i, result in enumerate(results)
        for n in result["admitted"]
        if mode == "once"
    ]
    return _figures(
        statuses=statuses,
        admitted=admitted,
        latencies=[x for result in results for x in result["latencies"]],
        errors=sum(result["errors"] for result in results),
        seconds=max(result["seconds"] for result in results),
    )


def _figures(
    *,
    statuses: dict[int, int],
    admitted: list[int],
    latencies: list[float],
    errors: int,
    seconds: float,
) -> dict[str, Any]:
    latencies = sorted(latencies)
    return {
        "statuses": statuses,
        "admitted": admitted,
        "latencies": latencies,
        "requests": len(latencies),
        "errors": errors,
        "seconds": seconds,
        "rps": len(latencies) / seconds if seconds else 0.0,
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else 0.0,
        "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000
        if latencies
        else 0.0,
    }


def merged(*parts: dict[str, Any]) -> dict[str, Any]:
    """Parts of one measure put together: exact percentiles when the parts kept their
    latencies (the Python client), else (wrk) the mean of the parts' percentiles."""
    statuses: dict[int, int] = {}
    for part in parts:
        for status, count in part["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    if all("latencies" in part for part in parts):
        return _figures(
            statuses=statuses,
            admitted=[],
            latencies=[x for part in parts for x in part["latencies"]],
            errors=sum(part["errors"] for part in parts),
            seconds=sum(part["seconds"] for part in parts),
        )
    requests = sum(part["requests"] for part in parts)
    seconds = sum(part["seconds"] for part in parts)
    return {
        "statuses": statuses,
        "requests": requests,
        "errors": sum(part["errors"] for part in parts),
        "seconds": seconds,
        "rps": requests / seconds if seconds else 0.0,
        "p50_ms": sum(part["p50_ms"] for part in parts) / len(parts),
        "p99_ms": sum(part["p99_ms"] for part in parts) / len(parts),
    }


_WRK_LOOP_SCRIPT = r"""
local jobs = {%(jobs)s}
local counter = 0

function init(args)
  counter = math.random(#jobs)
end

function request()
  counter = counter + 1
  local job = jobs[(counter %% #jobs) + 1]
  local headers = {["Accept"] = "application/json"}
  if job[3] ~= "" then headers["Authorization"] = "Token " .. job[3] end
  if job[4] ~= "" then headers["Content-Type"] = "application/json" end
  if job[4] == "" then return wrk.format(job[1], job[2], headers) end
  return wrk.format(job[1], job[2], headers, job[4])
end

function done(summary, latency, requests)
  -- Answers of 409 (sold out, limit reached) are answers: only transport failures count.
  io.write(string.format(
    "WRKJSON {\"requests\": %%d, \"duration_us\": %%d, \"errors\": %%d, "
    .. "\"p50\": %%d, \"p95\": %%d, \"p99\": %%d}\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def _wrk_loop(base_url: str, jobs: list[tuple[Any, ...]], seconds: float) -> dict[str, Any]:
    """wrk (C, one thread) cycling `jobs` over BENCH_CLIENTS keep-alive connections."""
    entries = ", ".join(
        "{" + ", ".join(common._lua_string(str(field or "")) for field in job) + "}" for job in jobs
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(_WRK_LOOP_SCRIPT % {"jobs": entries})
    try:
        completed = subprocess.run(
            [
                *("wrk", "-t1", f"-c{common.CLIENTS}", f"-d{max(1, round(seconds))}s"),
                *("--timeout", "30s", "-s", handle.name, base_url),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(handle.name)
    result = common.wrk_result(completed.stdout)
    return result | {"statuses": {}, "rps": common.ratio(result["requests"], result["seconds"])}


def loop(base_url: str, jobs: list[tuple[Any, ...]], seconds: float) -> dict[str, Any]:
    """Cycle `jobs` for `seconds` with the benchmarks' load client: wrk when installed (it
    leaves the server the CPU, and does not cap the truly bare app), else the Python clients."""
    if common._client_kind() == "wrk":
        return _wrk_loop(base_url, jobs, seconds)
    return hammer(base_url, jobs, mode="loop", seconds=seconds)


def client_describe() -> str:
    if common._client_kind() == "wrk":
        return f"wrk, {common.CLIENTS} keep-alive connections"
    return f"{common.CLIENTS} keep-alive connections ({PROCESSES} Python client processes)"


def order_place(base_url: str, sim_url: str, token: str, item_id: int, sku_id: int) -> str:
    """An admitted buyer: an address, the preview, the order (a new Idempotency-Key), paid
    through the simulator and settled by pay/sync; returns "paid", "ordered" or "failed"."""
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    address = session.post(
        base_url + "/api/v1/addresses",
        json={
            "name": "压测",
            "phone": "13800138000",
            "province": "浙江省",
            "city": "杭州市",
            "district": "西湖区",
            "detail": "秒杀路 1 号",
        },
        timeout=30,
    ).json()
    body = {
        "lines": [{"sku_id": sku_id, "quantity": 1}],
        "address_id": address["id"],
        "promotion": {"kind": "flash", "id": item_id},
    }
    preview = session.post(base_url + "/api/v1/checkout/preview", json=body, timeout=30)
    if preview.status_code != 200:
        return "failed"
    answer = session.post(
        base_url + "/api/v1/orders",
        json=body | {"expected_payable_fen": preview.json()["payable_fen"]},
        headers={"Idempotency-Key": uuid.uuid4().hex},
        timeout=30,
    )
    if answer.status_code != 201:
        return "failed"
    no = answer.json()["no"]
    pay = session.post(f"{base_url}/api/v1/orders/{no}/pay", timeout=30)
    if pay.status_code != 200:
        return "ordered"
    requests.post(sim_url + "_sim/pay", json=pay.json()["request_payment"], timeout=30)
    synced = session.post(f"{base_url}/api/v1/orders/{no}/pay/sync", timeout=30)
    return "paid" if synced.status_code == 200 and synced.json().get("paid") else "ordered"


def oversold(item_id: int) -> dict[str, int]:
    """What the database says: units taken by orders against the item's flash stock."""
    from django.db.models import Sum

    from marketing.models import FlashItem, FlashPurchase
    from orders.models import OrderLine

    item = FlashItem.objects.get(pk=item_id)
    held = (
        FlashPurchase.objects.filter(item_id=item_id, status="held").aggregate(n=Sum("quantity"))[
            "n"
        ]
        or 0
    )
    in_orders = (
        OrderLine.objects.filter(order__promotion_kind="flash", order__promotion_id=item_id)
        .exclude(order__status="cancelled")
        .aggregate(n=Sum("quantity"))["n"]
        or 0
    )
    return {
        "total": item.total_stock,
        "pool_left": item.flash_stock,
        "held": held,
        "sold": item.sold,
        "in_orders": in_orders,
        "oversold": max(0, in_orders - item.total_stock, held + item.sold - item.total_stock),
        "balanced": int(item.flash_stock + held + item.sold == item.total_stock),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=2000)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=common.SECONDS)
    args = parser.parse_args()

    common.django_setup()
    from marketing.models import FlashItem
    from marketing.services.flash_sale import flash_session_end
    from wechat_sim import start_simulator

    item_id = seed(args.units)
    sku_id = FlashItem.objects.values_list("sku_id", flat=True).get(pk=item_id)
    admit_path = f"/api/v1/flash/items/{item_id}/admit"
    admit_body = json.dumps({"quantity": 1})
    with start_simulator(port=0) as sim:
        extra = {
            "WECHAT_API_BASE": sim.base_url,
            "WECHAT_PAY_API_BASE": sim.base_url,
            # WeChat's notifications go nowhere: pay/sync settles each payment (orderquery).
            "PUBLIC_BASE_URL": "http://127.0.0.1:9",
        }
        with common.Server(extra_env=extra) as server:
            with common.timed(f"{args.buyers} buyers logged in through the simulator"):
                tokens = buyers_login(server.base_url, sim.base_url, args.buyers)
            jobs = [("POST", admit_path, token, admit_body) for token in tokens]
            rush = hammer(server.base_url, jobs, mode="once")
            admitted = sorted(rush["admitted"])
            with ThreadPoolExecutor(max_workers=8) as pool:
                placed = list(
                    pool.map(
                        lambda n: order_place(
                            server.base_url, sim.base_url, tokens[n], item_id, sku_id
                        ),
                        admitted,
                    )
                )
            if common.WARMUP_SECONDS > 0:
                loop(server.base_url, jobs, common.WARMUP_SECONDS)
            # A-B-B-A halves: a machine whose load drifts during the run weighs on both alike.
            bare_jobs = [("GET", "/_bench/bare", None, None)]
            half = args.seconds / 2
            parts = [
                loop(server.base_url, bare_jobs, half),
                loop(server.base_url, jobs, half),
                loop(server.base_url, jobs, half),
                loop(server.base_url, bare_jobs, half),
            ]
            bare = merged(parts[0], parts[3])
            sustained = merged(parts[1], parts[2])
            described = server.describe()
    common.bare_app_note()
    with common.BareApp() as app:
        truly_jobs = [("GET", common.BareApp.ready_path, None, None)]
        if common.WARMUP_SECONDS > 0:
            loop(app.base_url, truly_jobs, common.WARMUP_SECONDS)
        truly_bare = merged(*(loop(app.base_url, truly_jobs, half) for _ in range(2)))
    figures = oversold(item_id)
    ratio = common.ratio(sustained["rps"], bare["rps"])
    truly_ratio = common.ratio(sustained["rps"], truly_bare["rps"])
    flash_session_end(
        session_id=FlashItem.objects.values_list("session_id", flat=True).get(pk=item_id)
    )
    print(
        f"server: {described}; load: {client_describe()}, {args.seconds:g} s per measured part "
        "(the rush: Python clients)"
    )
    print(
        f"buyers: {args.buyers}, flash units: {args.units}; rush: {rush['requests']} admission "
        f"requests in {rush['seconds']:.2f} s, answers {dict(sorted(rush['statuses'].items()))}"
    )
    print(f"admitted:        {len(admitted):8d}   (≤ {args.units})")
    created = sum(outcome != "failed" for outcome in placed)
    paid = sum(outcome == "paid" for outcome in placed)
    print(f"orders created:  {created:8d}   (paid: {paid})")
    print(
        f"oversold:        {figures['oversold']:8d}   (DB: flash stock {figures['total']}, "
        f"in orders {figures['in_orders']}, held {figures['held']}, sold {figures['sold']}, "
        f"pool left {figures['pool_left']}; balanced: {'yes' if figures['balanced'] else 'NO'})"
    )
    rows = [
        [
            *(name, part["rps"], common.ratio(part["rps"], bare["rps"])),
            *(common.ratio(part["rps"], truly_bare["rps"]), part["p50_ms"], part["p99_ms"]),
            part["errors"],
        ]
        for name, part in (
            ("truly bare app (SELECT 1)", truly_bare),
            ("bare DRF view (1 query)", bare),
            ("flash admission (token + Lua)", sustained),
        )
    ]
    headers = ["endpoint", "req/s", "× bare", "× truly bare", "p50 ms", "p99 ms", "errors"]
    print(common.table(headers, rows))
    verdict = "ok" if ratio >= GOAL and figures["oversold"] == 0 else "BELOW GOAL"
    print(
        f"admission: {ratio:.2f}× bare, goal ≥ {GOAL} with 0 oversold: {verdict}; "
        f"{truly_ratio:.2f}× truly bare"
    )


if __name__ == "__main__":
    main()
