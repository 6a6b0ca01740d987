"""WeChat Pay notification benchmark: notifications processed per second, new and duplicate, as
ratios to the bare DRF view served the same way in the same run.

    .venv/bin/python -m bench.notify
    .venv/bin/python -m bench.notify --orders 40000

Seeds unpaid orders with a WeChat prepay attempt each (bulk inserts), writes one correctly signed
payment notification per attempt (MD5 with the merchant key, as WeChat signs them), then posts
them to POST /api/v1/payments/wechat/notify with the load client: first every one once ("new":
signature check, one prepared statement moving the order to paid and recording the payment in
the ledger, follow-ups coalesced into a sweep task queued in Redis), then the same ones again
("duplicate": WeChat's retries). Celery is not eager here, as in production; no worker runs
during the load: afterwards the queued tasks are purged and the sweep runs in-process, to show
the follow-ups (points, growth, messages) all happen and at what rate. The truly bare app
(bench/bare_app.py) is measured afterwards with the same client, connections and duration.
Goal: new ≥ 50% of the in-stack bare view; the ratio to the truly bare app is printed beside it.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import common  # noqa: E402

NOTIFY_PATH = "/api/v1/payments/wechat/notify"
ORDER_PREFIX = "BN"  # bench orders: deleted at the start of each run
PAYERS = 500  # orders are spread over this many members, as real payments are (a payment locks
# its member's row for points and growth: one payer for every order would serialise them all)
GOAL = 0.5
CHUNK = 2000

_WRK_POST_SCRIPT = """
local bodies = {}
for line in io.lines(%(file)s) do bodies[#bodies + 1] = line end
local counter = 0

function request()
  counter = counter + 1
  local body = bodies[((counter - 1) %% #bodies) + 1]
  return wrk.format("POST", %(path)s, {["Content-Type"] = "text/xml"}, body)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, "SUCCESS", 1, true) then
    wrk.thread:set("failed", (wrk.thread:get("failed") or 0) + 1)
  end
end

function done(summary, latency, requests)
  io.write(string.format(
    "WRKJSON {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"errors\\": %%d, "
    .. "\\"p50\\": %%d, \\"p95\\": %%d, \\"p99\\": %%d}\\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout + summary.errors.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def bench_orders_delete() -> None:
    """Remove this benchmark's orders (and their payments) from the benchmark database."""
    from django.db import transaction

    from members.models import GrowthLog, PointsLot, SubscribeMessage
    from orders.models import Order, OrderStatusLog
    from payments.models import LedgerEntry, PaymentAttempt, Refund

    old = Order.objects.filter(no__startswith=ORDER_PREFIX)
    with transaction.atomic():
        PointsLot.objects.filter(order_no__startswith=ORDER_PREFIX).delete()
        GrowthLog.objects.filter(order_no__startswith=ORDER_PREFIX).delete()
        SubscribeMessage.objects.filter(dedup_key__startswith=f"paid:{ORDER_PREFIX}").delete()
        LedgerEntry.objects.filter(order__in=old).delete()
        Refund.objects.filter(order__in=old).delete()
        PaymentAttempt.objects.filter(order__in=old).delete()
        OrderStatusLog.objects.filter(order__in=old).delete()
        old.delete()


def seed(count: int) -> list[str]:
    """`count` unpaid orders with one prepaid attempt each; returns the notification bodies."""
    from django.conf import settings
    from django.utils import timezone

    from members.models import Member
    from orders.models import Order
    from payments.models import PaymentAttempt
    from wechat_sim.pay_sign import signed, to_xml

    bench_orders_delete()
    openids = [f"bench-notify-payer-{n}" for n in range(PAYERS)]
    Member.objects.bulk_create([Member(openid=openid) for openid in openids], ignore_conflicts=True)
    members = list(Member.objects.filter(openid__in=openids).order_by("pk"))
    run = uuid.uuid4().hex[:6]
    now = timezone.now()
    bodies = []
    for start in range(0, count, CHUNK):
        numbers = [f"{ORDER_PREFIX}{run}{n:08d}" for n in range(start, min(count, start + CHUNK))]
        orders = Order.objects.bulk_create(
            Order(
                no=no,
                member=members[n % len(members)],
                client_token=no,
                request_hash="bench",
                delivery_type=Order.DeliveryType.EXPRESS,
                goods_fen=1999,
                payable_fen=1999,
                wechat_pay_fen=1999,
                expires_at=now + timezone.timedelta(hours=2),
            )
            for n, no in enumerate(numbers)
        )
        PaymentAttempt.objects.bulk_create(
            PaymentAttempt(
                order=order,
                seq=1,
                out_trade_no=f"{order.no}P1",
                amount_fen=1999,
                prepay_id=f"wxbench{order.no}",
                status=PaymentAttempt.Status.PREPAID,
            )
            for order in orders
        )
        for order in orders:
            fields = {
                "return_code": "SUCCESS",
                "return_msg": "OK",
                "appid": settings.WECHAT_APPID,
                "mch_id": settings.WECHAT_MCH_ID,
                "nonce_str": uuid.uuid4().hex,
                "result_code": "SUCCESS",
                "openid": order.member.openid,
                "is_subscribe": "N",
                "trade_type": "JSAPI",
                "bank_type": "OTHERS",
                "total_fee": 1999,
                "fee_type": "CNY",
                "cash_fee": 1999,
                "transaction_id": f"42{order.no}{order.pk:010d}"[:32],
                "out_trade_no": f"{order.no}P1",
                "time_end": timezone.localtime(now).strftime("%Y%m%d%H%M%S"),
            }
            bodies.append(to_xml(signed(fields, settings.WECHAT_API_KEY)).replace("\n", ""))
    return bodies


def sql_per_notification(warm_up: str, body: str) -> tuple[int, int]:
    """Queries of one new and one duplicate notification on a warm connection, counted
    in-process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from mall.celery import app

    app.conf.task_always_eager = False  # as in the server: follow-ups are queued, not run
    client = Client()
    client.post(NOTIFY_PATH, data=warm_up, content_type="text/xml")  # prepares the statement
    counts = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            answer = client.post(NOTIFY_PATH, data=body, content_type="text/xml")
        if b"SUCCESS" not in answer.content:
            raise RuntimeError(f"notification refused: {answer.content!r}")
        counts.append(len(queries))
    return counts[0], counts[1]


def _wrk_post(base_url: str, bodies: list[str], clients: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        body_file = Path(folder) / "bodies.txt"
        body_file.write_text("\n".join(bodies) + "\n", encoding="utf-8")
        script = Path(folder) / "post.lua"
        script.write_text(
            _WRK_POST_SCRIPT % {"file": json.dumps(str(body_file)), "path": json.dumps(NOTIFY_PATH)}
        )
        completed = subprocess.run(
            [
                *("wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s"),
                *("--timeout", "10s", "-s", str(script), base_url),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    return common.wrk_result(completed.stdout)


def _python_poster(args: tuple[str, int, list[str], float]) -> tuple[list[float], int]:
    host, port, bodies, seconds = args
    connection = http.client.HTTPConnection(host, port, timeout=10)
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    for body in bodies:
        if time.monotonic() >= deadline:
            break
        began = time.perf_counter()
        try:
            connection.request(
                "POST", NOTIFY_PATH, body=body.encode(), headers={"Content-Type": "text/xml"}
            )
            answer = connection.getresponse()
            content = answer.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=10)
            continue
        if answer.status != 200 or b"SUCCESS" not in content:
            errors += 1
        latencies.append(time.perf_counter() - began)
    return latencies, errors


def _python_post(base_url: str, bodies: list[str], clients: int, seconds: float) -> dict[str, Any]:
    parts = urlsplit(base_url)
    shares = [bodies[i::clients] for i in range(clients)]
    jobs = [(parts.hostname or "127.0.0.1", parts.port or 80, share, seconds) for share in shares]
    began = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        results = pool.map(_python_poster, jobs)
    elapsed = min(seconds, max(0.001, time.monotonic() - began - 0.5))
    latencies = sorted(x for batch, _ in results for x in batch)

    def percentile(share: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(share * len(latencies)))] * 1000
            if latencies
            else 0.0
        )

    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "errors": sum(e for _, e in results),
        "p50_ms": percentile(0.5),
        "p95_ms": percentile(0.95),
        "p99_ms": percentile(0.99),
    }


def post_load(name: str, base_url: str, bodies: list[str], *, seconds: float) -> common.LoadResult:
    run = (
        _wrk_post
        if shutil.which("wrk") and os.environ.get("BENCH_CLIENT") != "python"
        else _python_post
    )
    return common.LoadResult(name=name, **run(base_url, bodies, common.CLIENTS, seconds))


def _out_trade_no(body: str) -> str:
    value = body.split("<out_trade_no>", 1)[1].split("</out_trade_no>", 1)[0]
    return value.removeprefix("<![CDATA[").removesuffix("]]>")


def followups_run() -> dict[str, Any]:
    """What the worker does after the notifications: the coalesced sweep, run here in-process
    until nothing is due (the queued tasks were purged). Returns how many it applied, how long
    it took and how many of this run's paid orders are still without their effects."""
    from mall.celery import app
    from orders.models import Order
    from payments.services import paid_followups_sweep

    app.conf.task_always_eager = False  # the messages' sends are queued (purged), not run here
    applied, began = 0, time.perf_counter()
    while True:
        result = paid_followups_sweep(older_than_seconds=0, batch_size=1000)
        applied += result["applied"]
        if not result["more"]:
            break
    seconds = max(time.perf_counter() - began, 1e-6)
    due_after = Order.objects.filter(
        no__startswith=ORDER_PREFIX, paid_at__isnull=False, paid_effects_at__isnull=True
    ).count()
    return {"applied": applied, "seconds": seconds, "due_after": due_after}


def queue_purge() -> None:
    """Drop the follow-up tasks the server queued (no worker runs during a benchmark)."""
    from mall.celery import app

    app.control.purge()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=15_000, help="new notifications prepared")
    parser.add_argument("--seconds", type=float, default=common.SECONDS)
    args = parser.parse_args()

    common.django_setup()
    from payments.models import LedgerEntry, PaymentAttempt

    with common.timed("seed"):
        bodies = seed(args.orders)
    new_sql, duplicate_sql = sql_per_notification(bodies[0], bodies[1])
    bodies = bodies[2:]
    # Production-like: follow-ups go to the broker for a worker instead of running in the request.
    with common.Server(extra_env={"CELERY_TASK_ALWAYS_EAGER": "false"}) as server:
        bare = common.load(
            "bare DRF view (1 query)", server.base_url, ["/_bench/bare"], seconds=args.seconds
        )
        warm, measured = bodies[: len(bodies) // 10], bodies[len(bodies) // 10 :]
        post_load("warm-up", server.base_url, warm, seconds=common.WARMUP_SECONDS)
        new = post_load("new notification", server.base_url, measured, seconds=args.seconds)
        paid = set(
            PaymentAttempt.objects.filter(
                status="paid", out_trade_no__startswith=ORDER_PREFIX
            ).values_list("out_trade_no", flat=True)
        )
        replays = [body for body in bodies if _out_trade_no(body) in paid]
        duplicate = post_load(
            "duplicate notification", server.base_url, replays, seconds=args.seconds
        )
        described = server.describe()
    truly_bare = common.bare_app_load(seconds=args.seconds)
    queue_purge()
    followups = followups_run()
    queue_purge()
    settled = PaymentAttempt.objects.filter(
        status="paid", out_trade_no__startswith=ORDER_PREFIX
    ).count()
    ledger_rows = LedgerEntry.objects.filter(attempt__out_trade_no__startswith=ORDER_PREFIX).count()
    exhausted = new.requests >= len(measured)
    rows = [
        [
            *(r.name, r.rps, common.ratio(r.rps, bare.rps), common.ratio(r.rps, truly_bare.rps)),
            *(r.p50_ms, r.p99_ms, r.errors, sql),
        ]
        for r, sql in ((truly_bare, 1), (bare, 1), (new, new_sql), (duplicate, duplicate_sql))
    ]
    print(f"server: {described}; load: {common.client_describe()}")
    headers = ["endpoint", "req/s", "× bare", "× truly bare", "p50 ms", "p99 ms", "not SUCCESS"]
    print(common.table([*headers, "SQL"], rows))
    print(
        f"ledger rows: {ledger_rows} for {settled} settled attempts "
        f"({'ok' if ledger_rows == settled else 'MISMATCH'})"
        + ("; WARNING: new notifications ran out, use --orders" if exhausted else "")
    )
    print(
        f"follow-ups (points, growth, coupon, message queued) by one process, in-process: "
        f"{followups['applied']} orders in {followups['seconds']:.1f} s = "
        f"{followups['applied'] / followups['seconds']:,.0f}/s; "
        f"still due: {followups['due_after']}"
    )
    bench_orders_delete()
    ratio = common.ratio(new.rps, bare.rps)
    print(
        f"new notifications: {ratio:.2f}× bare, goal ≥ {GOAL}: {common.goal_verdict(ratio, GOAL)}; "
        f"{common.ratio(new.rps, truly_bare.rps):.2f}× truly bare "
        f"(duplicates {common.ratio(duplicate.rps, truly_bare.rps):.2f}×)"
    )


if __name__ == "__main__":
    main()
