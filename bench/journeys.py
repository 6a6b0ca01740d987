"""Journeys benchmark: the nightly tagging and the replenish / win-back journeys over a big shop.

    .venv/bin/python -m bench.journeys                            # 100,000 members, 300,000 orders
    .venv/bin/python -m bench.journeys --members 2000 --orders 6000   # a quick check

It uses its own database (`mall_bench_journeys`, BENCH_JOURNEYS_DATABASE_URL overrides; created
and migrated here) and fills it with set-based SQL (generate_series): members, a catalogue of
200 products in 20 categories, orders (1-2 lines each) paid and received over the last 180 days,
a 30-day replenish rule per category with a coupon, a win-back coupon. A second run with the same
sizes seeds nothing. Then it times, each from a clean slate (earlier sends, tags, coupons and
messages removed): `tags_auto_refresh`, `replenish_run` and `winback_run`, and prints members/s
and the peak RSS of this process (the tasks run in-process, as a worker would run them).

Subscribe-message tasks are queued to Redis (db 13, as the other benchmarks) like in production,
not sent: the queue is emptied afterwards. Goal (issue 8): ≥ 5,000 members/s for each task, peak
RSS < 300 MB.
"""

import argparse
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import common  # noqa: E402

DATABASE_URL = os.environ.get(
    "BENCH_JOURNEYS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mall_bench_journeys"
)
GOAL_MEMBERS_PER_S, GOAL_RSS_MB = 5000, 300
OPENID_PREFIX = "bench-j-"
SKU_PREFIX = "BENCH-J-"
CATEGORIES, PRODUCTS = 20, 200
DAYS = 180
SEED_VERSION = "seed-v2"  # bump when the seed's data changes: a rerun then reseeds


def _fill(table: str, given: dict[str, str]) -> tuple[str, str]:
    """(columns, expressions) for an INSERT … SELECT into `table`: the given expressions, and
    for every other NOT NULL column without a database default a neutral value of its type, so
    the seed keeps working when other areas add columns."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type, is_nullable, column_default, is_identity "
            "FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
            [table],
        )
        columns = cursor.fetchall()
    neutral = {
        "boolean": "false",
        "jsonb": "'{}'::jsonb",
        "json": "'{}'::json",
        "timestamp with time zone": "now()",
        "date": "current_date",
    }
    names, values = [], []
    for name, data_type, nullable, default, identity in columns:
        if identity == "YES":
            continue
        if name in given:
            names.append(name)
            values.append(given[name])
        elif nullable == "NO" and default is None:
            names.append(name)
            if data_type in ("integer", "bigint", "smallint", "numeric"):
                values.append("0")
            else:
                values.append(neutral.get(data_type, "''"))
    return ", ".join(names), ", ".join(values)


def seed(members: int, orders: int) -> None:
    from django.db import connection, transaction

    from catalog.models import Category, Product, Sku
    from marketing.models import CouponTemplate, ReplenishRule
    from members.models import Member

    have = Member.objects.filter(openid__startswith=OPENID_PREFIX).count()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM orders_order o JOIN members_member m ON m.id = o.member_id "
            "WHERE m.openid LIKE %s",
            [OPENID_PREFIX + "%"],
        )
        have_orders = cursor.fetchone()[0]
    seeded = Member.objects.filter(openid=f"{OPENID_PREFIX}1", nickname=SEED_VERSION).exists()
    if have == members and have_orders == orders and seeded:
        print(f"  seed: {members:,} members and {orders:,} orders already there")
        return
    began = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        # A different size or seed: start over. This database is the benchmark's own, so
        # TRUNCATE … CASCADE clears members with everything that refers to them (orders, sends,
        # tags, coupons, messages) in the server, without loading them here.
        cursor.execute("TRUNCATE members_member, orders_order CASCADE")
        ReplenishRule.objects.all().delete()
        Sku.objects.filter(code__startswith=SKU_PREFIX).delete()
        Product.objects.filter(title__startswith="旅程商品").delete()

        categories = [Category.objects.create(name=f"旅程分类{n}") for n in range(CATEGORIES)]
        products = Product.objects.bulk_create(
            Product(
                title=f"旅程商品{n}",
                category=categories[n % CATEGORIES],
                is_on_shelf=True,
                min_price_fen=1000 + n * 10,
                max_price_fen=1000 + n * 10,
                sales_count=n,
            )
            for n in range(PRODUCTS)
        )
        Sku.objects.bulk_create(
            Sku(
                product=product,
                code=f"{SKU_PREFIX}{n:04d}",
                specs={"规格": "标准"},
                spec_key="规格:标准",
                price_fen=1000 + n * 10,
                stock=1_000_000,
            )
            for n, product in enumerate(products)
        )
        template = CouponTemplate.objects.create(
            name="复购券 满50减5",
            kind="full_reduction",
            threshold_fen=5000,
            amount_fen=500,
            validity="relative",
            valid_days=14,
        )
        ReplenishRule.objects.bulk_create(
            ReplenishRule(
                name=f"复购 {category.name}",
                category=category,
                cycle_days=30,
                coupon_template=template,
            )
            for category in categories
        )

        columns, values = _fill(
            "members_member",
            {
                "openid": f"'{OPENID_PREFIX}' || g",
                "nickname": f"CASE WHEN g = 1 THEN '{SEED_VERSION}' ELSE '会员' || g END",
                "is_active": "true",
                "created_at": f"now() - (g % {DAYS * 2}) * interval '1 day'",
            },
        )
        cursor.execute(
            f"INSERT INTO members_member ({columns}) "  # noqa: S608 - generated column lists
            f"SELECT {values} FROM generate_series(1::bigint, {int(members)}) AS g"
        )
        cursor.execute(
            "SELECT min(id) FROM members_member WHERE openid LIKE %s", [OPENID_PREFIX + "%"]
        )
        first_member = cursor.fetchone()[0]
        cursor.execute("SELECT min(id) FROM catalog_sku WHERE code LIKE %s", [SKU_PREFIX + "%"])
        first_sku = cursor.fetchone()[0]

        # Orders: member (g * a prime) % members, received a hash of g % DAYS days ago (so a
        # member's orders are independent: some members are dormant), paid 3 days before;
        # 5% still only paid, 3% refunded (closed), the rest received or completed.
        days = f"(abs(hashint8(g)) % {DAYS})"
        received = f"(now() - {days} * interval '1 day' - (g % 24) * interval '1 hour')"
        columns, values = _fill(
            "orders_order",
            {
                "no": "'J' || lpad(g::text, 12, '0')",
                "member_id": f"{first_member} + (g * 104729) % {members}",
                "status": (
                    "CASE WHEN g % 100 < 5 THEN 'paid' WHEN g % 100 < 8 THEN 'closed' "
                    f"WHEN {days} < 7 THEN 'received' ELSE 'completed' END"
                ),
                "kind": "'normal'",
                "client_token": "'bench-' || g",
                "request_hash": "''",
                "delivery_type": "'express'",
                "address": "'{}'::jsonb",
                "breakdown": "'{}'::jsonb",
                "goods_fen": "6000",
                "payable_fen": "6000",
                "wechat_pay_fen": "6000",
                "expires_at": f"{received} - interval '3 days'",
                "paid_at": f"{received} - interval '3 days'",
                "received_at": f"CASE WHEN g % 100 < 8 THEN NULL ELSE {received} END",
                "created_at": f"{received} - interval '3 days'",
            },
        )
        cursor.execute(
            f"INSERT INTO orders_order ({columns}) "  # noqa: S608
            f"SELECT {values} FROM generate_series(1::bigint, {int(orders)}) AS g"
        )
        # Lines: one per order, a second for every other order; sku by a hash of the order.
        columns, values = _fill(
            "orders_orderline",
            {
                "order_id": "o.id",
                "sku_id": f"{first_sku} + (o.id * 31 + n * 17) % {PRODUCTS}",
                "product_id": "s.product_id",
                "title": "'旅程商品'",
                "unit_price_fen": "3000",
                "quantity": "1",
                "paid_fen": "3000",
            },
        )
        cursor.execute(
            f"INSERT INTO orders_orderline ({columns}) "  # noqa: S608
            f"SELECT {values} FROM orders_order o "
            f"CROSS JOIN generate_series(0, 1) AS n "
            f"JOIN catalog_sku s ON s.id = {first_sku} + (o.id * 31 + n * 17) % {PRODUCTS} "
            "WHERE o.no LIKE 'J%' AND (n = 0 OR o.id % 2 = 0)"
        )
        cursor.execute("ANALYZE")
    print(f"  seed: {members:,} members, {orders:,} orders in {time.monotonic() - began:,.1f} s")


def reset() -> None:
    """Forget what earlier runs sent, so every timing does the whole work."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM marketing_journeysend")
        cursor.execute("DELETE FROM marketing_coupon")
        cursor.execute("DELETE FROM members_membertag")
        cursor.execute("DELETE FROM members_subscribemessage")
        cursor.execute("UPDATE marketing_coupontemplate SET issued_count = 0")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def timed(name: str, members: int, work: Any) -> list[Any]:
    began = time.monotonic()
    counts = work()
    elapsed = time.monotonic() - began
    rate = members / elapsed if elapsed else float("inf")
    ok = "ok" if rate >= GOAL_MEMBERS_PER_S else "below goal"
    return [name, f"{elapsed:,.2f} s", f"{rate:,.0f}", f"{rss_mb():,.0f} MB", ok, str(counts)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=300_000)
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = DATABASE_URL
    common.django_setup()

    from django.conf import settings

    from mall.celery import app
    from marketing.models import CouponTemplate
    from shop.lifecycle.journeys import replenish_run, winback_run
    from shop.lifecycle.member_tags import tags_auto_refresh

    # Messages are queued to Redis like in production (a worker would send them), not sent.
    app.conf.task_always_eager = False
    app.conf.broker_url = common.bench_env()["REDIS_URL"]

    seed(args.members, args.orders)
    reset()
    settings.WINBACK_COUPON_TEMPLATE_ID = CouponTemplate.objects.order_by("pk").first().pk
    print(f"  start RSS {rss_mb():,.0f} MB")
    rows = [
        timed("tags_auto_refresh", args.members, tags_auto_refresh),
        timed("replenish_run", args.members, replenish_run),
        timed("replenish_run (again: nothing to send)", args.members, replenish_run),
        timed("winback_run", args.members, winback_run),
    ]
    with app.connection_for_write() as connection:
        purged = app.control.purge(connection=connection)
    print()
    print(
        common.table(["task", "time", "members/s", "peak RSS", "goal", "counts"], rows),
        flush=True,
    )
    peak = rss_mb()
    print(
        f"\n{args.members:,} members, {args.orders:,} orders; goal ≥ {GOAL_MEMBERS_PER_S:,} "
        f"members/s per task, peak RSS < {GOAL_RSS_MB} MB: peak {peak:,.0f} MB "
        f"({'ok' if peak < GOAL_RSS_MB else 'over'}); {purged} queued messages dropped"
    )


if __name__ == "__main__":
    main()
