"""`manage.py smoke_embedded`: check the shop end to end on the current database.

Drives the shopper API as the demo shopper (seed_demo first) through DRF's APIClient with a real
member token: browse, coupons, campaigns, sign-in, flash sale, checkout preview → order
(idempotent) → cancel, an order paid with stored value, shoppers ordering at once (threads), and
(unless --skip-wechat) an order and a top-up paid through WeChat Pay: a simulator and this
shop's WSGI app both run in this process on loopback ports, so each signed notification (sent
twice) takes the real notify → settle path. Then the recommendations and every admin list page.
Each step checks what it did, not only the status codes: the order's status, the SKU's stock
moved by the quantity (and back on cancel), the ledger rows of each payment, the points a paid
order earns (pending until after-sales), the balance after a top-up. Any 5xx, unexpected answer
or wrong result is a failure; the command exits non-zero if there was one.

It writes real rows (orders, a balance credit, coupons) for the demo shopper: meant for the
embedded mode, a demo or a staging database (it refuses to run with DEBUG off unless --force).
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import requests
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Sku
from mall.money import BASIS_POINTS
from marketing.models import FlashItem, FlashSession
from marketing.services.flash_sale import flash_item_create, flash_session_end
from members.models import Member
from members.points import points_for_order_paid
from members.services import member_token_issue
from members.stored_value import stored_value_credit
from orders.models import Order, OrderStatus
from payments.models import LedgerEntry

from .seed_demo import DEMO_SHOPPER_OPENID

API = "/api/v1/"
OK = (200, 201)
ANSWERED = tuple(range(200, 500))  # a refusal (limit reached, already done) is an answer too
WECHAT_PAY_WAIT_SECONDS = 15.0
CONCURRENT_SHOPPERS = 4


class _Failed(Exception):
    """A step's answer was a 5xx or not one of those expected (already reported)."""


class Command(BaseCommand):
    help = "端到端检查商城（演示顾客走一遍下单、支付流程；任何 5xx 即失败）/ smoke-check the shop"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--skip-wechat",
            action="store_true",
            help="不走微信支付 / no WeChat Pay order nor top-up (no simulator in this process)",
        )
        parser.add_argument(
            "--force", action="store_true", help="run even with DEBUG off (writes demo orders)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError("DEBUG 关闭：本命令会写入演示订单，确认请加 --force")
        member = Member.objects.filter(openid=DEMO_SHOPPER_OPENID).first()
        if member is None:
            raise CommandError("没有演示顾客：请先运行 manage.py seed_demo / run seed_demo first")
        self.started = time.monotonic()
        self.failures: list[str] = []
        self.member = member
        self.client = APIClient()
        self.token = "Token " + member_token_issue(member=member)
        self.client.credentials(HTTP_AUTHORIZATION=self.token)
        self.say(f"数据库 / database: {_database_label()}; 顾客 / shopper #{member.pk}")

        if options["skip_wechat"]:
            self._run_steps(wechat=False)
        else:
            with _wechat_in_process() as sim_url:
                self.sim_url = sim_url
                self._run_steps(wechat=True)
        seconds = time.monotonic() - self.started
        if self.failures:
            raise CommandError(
                f"失败 {len(self.failures)} 项 / failed ({seconds:.1f}s): "
                + "; ".join(self.failures)
            )
        self.stdout.write(self.style.SUCCESS(f"全部通过 / all passed ({seconds:.1f}s)"))

    def _run_steps(self, *, wechat: bool) -> None:
        self.step("浏览 / browse", self._browse)
        self.step("优惠券 / coupons", self._coupons)
        self.step("签到 / sign-in", self._signin)
        self.address_id = self.step("收货地址 / address", self._address)
        if self.address_id is not None:
            self.step("秒杀 / flash sale", self._flash)
            self.step("下单并取消 / order → cancel", self._order_cancel)
            self.step("余额支付 / pay with balance", self._order_balance)
            self.step("并发下单 / concurrent orders", self._orders_concurrent)
            if wechat:
                self.step("微信支付 / WeChat Pay", self._order_wechat)
        if wechat:
            self.step("余额充值 / top-up by WeChat Pay", self._top_up_wechat)
        # With two paid orders the recommendations are the personalised ones.
        self.step("推荐 / recommendations", lambda: self.call("GET", "recommendations"))
        self.step("管理后台 / admin pages", self._admin_pages)

    # --- plumbing ---

    def say(self, text: str) -> None:
        self.stdout.write(f"[{time.monotonic() - self.started:5.1f}s] {text}")

    def step(self, name: str, run: Callable[[], Any]) -> Any:
        self.say(f"== {name}")
        try:
            return run()
        except _Failed:
            self.failures.append(name)
        except Exception:  # a crash outside a request is a failure to report too
            self.stderr.write(traceback.format_exc())
            self.failures.append(name)
        return None

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        expect: tuple[int, ...] = OK,
        **headers: str,
    ) -> Any:
        """One API request; a 5xx, an exception in the view or an answer outside `expect` fails
        the step. Returns the JSON body (None when there is none)."""
        label = f"{method} {path}"
        try:
            response = getattr(self.client, method.lower())(
                API + path, body, format="json", **headers
            )
        except Exception:  # the test client re-raises the view's exception: that is a 500
            self.stderr.write(traceback.format_exc())
            self.stderr.write(f"  ✗ {label} → 500 (exception above)")
            raise _Failed from None
        content = response.content.decode(errors="replace")
        if response.status_code >= 500 or response.status_code not in expect:
            self.stderr.write(f"  ✗ {label} → {response.status_code} {content[:500]}")
            raise _Failed
        self.say(f"  ✓ {label} → {response.status_code}")
        return response.json() if content and response["Content-Type"].startswith("app") else None

    def require(self, condition: bool, message: str) -> None:
        if not condition:
            self.stderr.write(f"  ✗ {message}")
            raise _Failed

    # --- steps ---

    def _browse(self) -> None:
        me = self.call("GET", "me")
        self.require("balance_fen" in me, "me has no balance_fen")
        for path in (
            "categories",
            "points-mall/items",
            "recommendations",
            "tasks",
            "points/ledger",
            "pickup-points",
            "balance",
            "orders",
            "me/groups",
            "me/invite",
            "search/hot",
        ):
            self.call("GET", path)
        for path in ("campaigns", "group-buys"):
            rows = self.call("GET", path)["results"]
            if rows:
                self.call("GET", f"{path}/{rows[0]['id']}")
        page = self.call("GET", "products?q=茶")
        self.require(page["count"] > 0, "products?q=茶 found nothing (is the demo seeded?)")
        product = self.call("GET", f"products/{page['results'][0]['id']}")
        self.call("GET", "search/recent")
        sku = next((s for s in product["skus"] if s.get("stock", 1) > 0), None)
        if sku is not None:
            self.call("POST", "cart/items", {"sku_id": sku["id"], "quantity": 1})
            lines = self.call("GET", "cart/items")["results"]
            line = next(x for x in lines if x["sku_id"] == sku["id"])
            self.call("DELETE", f"cart/items/{line['id']}", expect=(200, 204))

    def _coupons(self) -> None:
        available = self.call("GET", "coupons/available")
        self.call("GET", "me/coupons")
        claimable = [t for t in available["results"] if t.get("can_claim", True)]
        if claimable:  # a repeated run may be at the per-member limit: a 4xx is an answer
            self.call("POST", f"coupons/{claimable[0]['id']}/claim", {}, expect=ANSWERED)
        self.call("POST", "coupons/redeem", {"code": "WELCOME2026"}, expect=ANSWERED)

    def _signin(self) -> None:
        self.call("GET", "signin/calendar")
        before = self.call("GET", "me")["points"]
        answer = self.call("POST", "signin", {}, expect=ANSWERED)  # 409: signed in already today
        after = self.call("GET", "me")["points"]
        if answer and "points_balance" in answer:
            self.require(
                answer["points_balance"] == after == before + answer["points"],
                f"sign-in: points {before} → {after}, answered {answer}",
            )
        else:
            self.require(after == before, f"a refused sign-in moved the points {before} → {after}")

    def _flash(self) -> None:
        sessions = self.call("GET", "flash/sessions")
        rows = sessions["results"] if isinstance(sessions, dict) else sessions
        ongoing = [row for row in rows if row.get("status") == "ongoing"]
        for session in ongoing or rows:
            items = self.call("GET", f"flash/sessions/{session['id']}/items")["results"]
            if items and ongoing:
                self._flash_buy(items[0]["id"])
                return
        # No session on sale now (the demo's are 10:00, 14:00, 20:00): a 10-minute one of our
        # own, ended at once afterwards (its unsold units go back to the SKU).
        session_id, item_id = _flash_session_now(self._sku_id())
        try:
            self._flash_buy(item_id)
        finally:
            flash_session_end(session_id=session_id, operator="smoke_embedded")

    def _flash_buy(self, item_id: int) -> None:
        """Admit, order at the flash price, cancel (the unit goes back to the pool). Sold out or
        the member's limit (a repeated run) answer 4xx, which is an answer: only a 5xx fails."""
        admitted = self.call(
            "POST", f"flash/items/{item_id}/admit", {"quantity": 1}, expect=ANSWERED
        )
        if not admitted or not admitted.get("admitted"):
            return
        sku_id = FlashItem.objects.values_list("sku_id", flat=True).get(pk=item_id)
        order = self._place(sku_id=sku_id, promotion={"kind": "flash", "id": item_id})
        self.call("POST", f"orders/{order['no']}/cancel", {})
        status = self.call("GET", f"orders/{order['no']}")["status"]
        self.require(status == OrderStatus.CANCELLED, f"cancelled flash order is {status}")

    def _address(self) -> int:
        mine = self.call("GET", "addresses")["results"]
        if mine:  # a repeated run reuses it
            return mine[0]["id"]
        address = self.call(
            "POST",
            "addresses",
            {
                "name": "演示顾客",
                "phone": "13800138000",
                "province": "浙江省",
                "city": "杭州市",
                "district": "西湖区",
                "detail": "龙井路 1 号（smoke_embedded）",
            },
        )
        return address["id"]

    def _sku_id(self) -> int:
        page = self.call("GET", "products?in_stock=true")
        for product in page["results"]:
            detail = self.call("GET", f"products/{product['id']}")
            for sku in detail["skus"]:
                if sku.get("stock", 1) >= 2 and sku.get("is_active", True):
                    return sku["id"]
        self.require(False, "no SKU in stock")
        raise AssertionError  # unreachable

    def _place(
        self,
        *,
        balance: bool = False,
        coupon: bool = True,
        sku_id: int | None = None,
        promotion: dict[str, Any] | None = None,
    ) -> dict:
        body: dict[str, Any] = {
            "lines": [{"sku_id": sku_id or self._sku_id(), "quantity": 1}],
            "address_id": self.address_id,
        }
        if promotion:
            body["promotion"] = promotion
        if not coupon:
            body["coupon_id"] = 0
        preview = self.call("POST", "checkout/preview", body)
        if balance:
            stored_value_credit(
                member_id=self.member.pk,
                amount_fen=preview["payable_fen"],
                reference=f"smoke:{uuid.uuid4().hex}",
            )
            body["balance_fen"] = preview["payable_fen"]
            preview = self.call("POST", "checkout/preview", body)
            self.require(preview["wechat_pay_fen"] == 0, "balance did not cover the order")
        key = uuid.uuid4().hex
        body["expected_payable_fen"] = preview["payable_fen"]
        order = self.call("POST", "orders", body, HTTP_IDEMPOTENCY_KEY=key)
        again = self.call("POST", "orders", body, HTTP_IDEMPOTENCY_KEY=key)
        self.require(again["no"] == order["no"], "a repeated Idempotency-Key made a second order")
        return order

    # --- what the database says after a step ---

    def _stock(self, sku_id: int) -> int:
        return Sku.objects.values_list("stock", flat=True).get(pk=sku_id)

    def _require_stock(self, sku_id: int, expected: int, when: str) -> None:
        stock = self._stock(sku_id)
        self.require(stock == expected, f"{when}: SKU #{sku_id} stock is {stock}, not {expected}")

    def _points_multiplier(self) -> int:
        """The member's level's points rate now (a payment earns at the rate before it)."""
        member = Member.objects.select_related("level").get(pk=self.member.pk)
        return member.level.points_multiplier_bp if member.level else BASIS_POINTS

    def _require_points_earned(self, *, pending_before: int, order: dict, multiplier: int) -> None:
        """The paid order's points: a pending lot of the shop's rate (POINTS_PER_YUAN_PAID per
        yuan paid × the level's rate), not spendable until the after-sales window is over. The
        paid order's follow-ups run just after its commit: wait for them a little."""
        earned = points_for_order_paid(paid_fen=order["payable_fen"], multiplier_bp=multiplier)
        deadline = time.monotonic() + WECHAT_PAY_WAIT_SECONDS
        while (pending := self.call("GET", "me")["points_pending"]) != pending_before + earned:
            self.require(
                time.monotonic() < deadline,
                f"order {order['no']} paid {order['payable_fen']} fen: pending points "
                f"{pending_before} → {pending}, not +{earned}",
            )
            time.sleep(0.1)
        self.say(f"  ✓ 积分 / points: +{earned} pending")

    def _require_ledger(self, *, kind: str, amount_fen: int, **lookup: Any) -> None:
        """Exactly one ledger row of `kind` for the payment, of its amount."""
        rows = list(
            LedgerEntry.objects.filter(kind=kind, **lookup).values_list("amount_fen", flat=True)
        )
        self.require(rows == [amount_fen], f"ledger {kind} {lookup}: {rows}, not [{amount_fen}]")

    # --- orders ---

    def _order_cancel(self) -> None:
        sku_id = self._sku_id()
        stock = self._stock(sku_id)
        order = self._place(sku_id=sku_id)
        self._require_stock(sku_id, stock - 1, "order placed")
        self.call("GET", f"orders/{order['no']}")
        self.call("POST", f"orders/{order['no']}/cancel", {})
        status = self.call("GET", f"orders/{order['no']}")["status"]
        self.require(status == OrderStatus.CANCELLED, f"cancelled order is {status}")
        self._require_stock(sku_id, stock, "order cancelled")

    def _order_balance(self) -> None:
        sku_id = self._sku_id()
        stock = self._stock(sku_id)
        me = self.call("GET", "me")
        multiplier = self._points_multiplier()
        order = self._place(balance=True, sku_id=sku_id)  # credits the payable amount first
        answer = self.call("POST", f"orders/{order['no']}/pay", {})
        self.require(answer.get("paid") is True, f"balance payment answered {answer}")
        detail = self.call("GET", f"orders/{order['no']}")
        self.require(detail["status"] == OrderStatus.PAID, f"balance-paid order is {detail}")
        self.require(
            detail["balance_fen"] == detail["payable_fen"] and detail["wechat_pay_fen"] == 0,
            f"balance-paid order's amounts: {detail}",
        )
        self._require_stock(sku_id, stock - 1, "order paid")
        self._require_ledger(
            kind=LedgerEntry.Kind.BALANCE_SPEND,
            amount_fen=detail["balance_fen"],
            order__no=order["no"],
        )
        balance = self.call("GET", "me")["balance_fen"]
        self.require(balance == me["balance_fen"], f"balance {me['balance_fen']} → {balance}")
        self._require_points_earned(
            pending_before=me["points_pending"], order=detail, multiplier=multiplier
        )

    def _orders_concurrent(self) -> None:
        """Shoppers at once (the web server is threaded), each ordering the same SKU and
        cancelling: every one is answered, and the stock is back where it was."""
        sku_id = self._sku_id()
        stock = self._stock(sku_id)
        body = {
            "lines": [{"sku_id": sku_id, "quantity": 1}],
            "address_id": self.address_id,
            "coupon_id": 0,
        }
        answers: list[str] = []

        def shopper() -> None:
            client = APIClient(raise_request_exception=False)
            client.credentials(HTTP_AUTHORIZATION=self.token)
            try:
                preview = client.post(API + "checkout/preview", body, format="json")
                answers.append(f"preview {preview.status_code}")
                payable = preview.json()["payable_fen"]
                order = client.post(
                    API + "orders",
                    {**body, "expected_payable_fen": payable},
                    format="json",
                    HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
                )
                answers.append(f"order {order.status_code}")
                cancel = client.post(API + f"orders/{order.json()['no']}/cancel", format="json")
                answers.append(f"cancel {cancel.status_code}")
            except Exception as exc:  # reported below as a failure
                answers.append(repr(exc)[:200])
            finally:
                connection.close()

        threads = [threading.Thread(target=shopper) for _ in range(CONCURRENT_SHOPPERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        expected = CONCURRENT_SHOPPERS * ["preview 200", "order 201", "cancel 200"]
        self.require(sorted(answers) == sorted(expected), f"concurrent answers: {answers}")
        self._require_stock(sku_id, stock, "concurrent orders cancelled")
        self.say(f"  ✓ {CONCURRENT_SHOPPERS} 个顾客同时下单并取消 / shoppers ordered at once")

    def _sim_pay(self, request_payment: dict[str, Any], settled: Callable[[], bool]) -> str:
        """The shopper pays in the simulator; wait until its notification has `settled`.
        Returns WeChat's transaction id."""
        paid = requests.post(self.sim_url + "_sim/pay", json=request_payment, timeout=5)
        self.require(paid.ok, f"simulator /_sim/pay → {paid.status_code} {paid.text[:200]}")
        self.say("  ✓ 模拟器已付款，等待通知 / simulator paid, waiting for the notification")
        deadline = time.monotonic() + WECHAT_PAY_WAIT_SECONDS
        while not settled():
            self.require(time.monotonic() < deadline, "the notification did not settle it")
            time.sleep(0.1)
        # Both copies of the notification answered SUCCESS, and the payment was recorded once.
        url = self.sim_url + "_sim/notifications"
        params = {"out_trade_no": paid.json()["out_trade_no"]}
        while (sends := requests.get(url, params=params, timeout=5).json())["pending"]:
            self.require(time.monotonic() < deadline, "notifications still queued")
            time.sleep(0.1)
        acks = [send["answered_success"] for send in sends["results"]]
        self.require(len(acks) == 2 and all(acks), f"notifications answered: {sends['results']}")
        recorded = LedgerEntry.objects.filter(
            external_key=f"wxpay:{paid.json()['transaction_id']}"
        ).count()
        self.require(recorded == 1, f"{recorded} ledger rows for the payment")
        return paid.json()["transaction_id"]

    def _order_wechat(self) -> None:
        """Paid through the simulator: its signed notification (sent twice) reaches this
        process's web server and settles the order once."""
        sku_id = self._sku_id()
        stock = self._stock(sku_id)
        pending_before = self.call("GET", "me")["points_pending"]
        multiplier = self._points_multiplier()
        order = self._place(coupon=False, sku_id=sku_id)
        answer = self.call("POST", f"orders/{order['no']}/pay", {})
        self.require(answer.get("paid") is False, f"pay answered {answer}")
        transaction_id = self._sim_pay(
            answer["request_payment"],
            lambda: (
                Order.objects.filter(no=order["no"])
                .exclude(status=OrderStatus.PENDING_PAYMENT)
                .exists()
            ),
        )
        detail = self.call("GET", f"orders/{order['no']}")
        self.require(
            detail["status"] == OrderStatus.PAID, f"order after the notification: {detail}"
        )
        self.say(f"  ✓ 通知已结算 / notification settled: {order['no']} paid")
        self._require_stock(sku_id, stock - 1, "order paid")
        self._require_ledger(
            kind=LedgerEntry.Kind.WECHAT_PAYMENT,
            amount_fen=detail["wechat_pay_fen"],
            external_key=f"wxpay:{transaction_id}",
            order__no=order["no"],
        )
        self._require_points_earned(
            pending_before=pending_before, order=detail, multiplier=multiplier
        )
        synced = self.call("POST", f"orders/{order['no']}/pay/sync", {})
        self.require(synced["status"] == OrderStatus.PAID, f"pay/sync answered {synced}")

    def _top_up_wechat(self) -> None:
        before = self.call("GET", "balance")["balance_fen"]
        answer = self.call(
            "POST", "balance/top-ups", {"amount_fen": 10000}, HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
        )
        self._sim_pay(
            answer["request_payment"],
            lambda: self.call("GET", "balance")["balance_fen"] > before,
        )
        after = self.call("GET", "balance")["balance_fen"]
        top_up = answer["top_up"]
        expected = 10000 + top_up["bonus_fen"]
        self.require(after - before == expected, f"balance {before} → {after}, not +{expected}")
        key = f"balance:topup:{top_up['no']}"
        self._require_ledger(
            kind=LedgerEntry.Kind.BALANCE_TOP_UP, amount_fen=10000, external_key=key
        )

    def _admin_pages(self) -> None:
        """The admin's home and every model's list, as the demo admin (seed_demo's)."""
        user = get_user_model().objects.filter(is_superuser=True, is_active=True).first()
        if user is None:
            self.say("  (没有管理员 / no superuser)")
            return
        client = Client(raise_request_exception=False)
        client.force_login(user)
        paths = ["/admin/"] + [
            reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist")
            for m in admin.site._registry
        ]
        bad = []
        for path in paths:
            response = client.get(path)
            if response.status_code >= 500:
                bad.append(f"{path} → {response.status_code}")
        for line in bad:
            self.stderr.write(f"  ✗ GET {line}")
        self.require(not bad, f"{len(bad)} admin pages failed")
        self.say(f"  ✓ {len(paths)} 个页面 / pages")


def _database_label() -> str:
    """ "PostgreSQL 18.3 (mall on /path/.pgdata)": the server's version, the database and where."""
    connection.ensure_connection()
    version = connection.pg_version
    params = connection.get_connection_params()
    where = params.get("host") or "local socket"
    return f"PostgreSQL {version // 10000}.{version % 10000} ({params.get('dbname')} on {where})"


def _flash_session_now(sku_id: int) -> tuple[int, int]:
    now = timezone.now()
    session = FlashSession.objects.create(
        name=f"自检场 smoke {timezone.localtime(now):%H:%M:%S}",
        starts_at=now - timedelta(seconds=1),
        ends_at=now + timedelta(minutes=10),
    )
    price_fen = Sku.objects.values_list("price_fen", flat=True).get(pk=sku_id)
    item = flash_item_create(
        session=session,
        sku_id=sku_id,
        flash_price_fen=max(1, price_fen // 2),
        total_stock=1,
        per_member_limit=1,
        operator="smoke_embedded",
    )
    return session.pk, item.pk


@contextmanager
def _wechat_in_process() -> Iterator[str]:
    """A WeChat simulator (with this shop's keys) and this shop's WSGI app, each on a free
    loopback port in a daemon thread; settings point WeChat at the simulator and the simulator's
    notifications at the app. Every notification is sent twice (a replay must settle once)."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    from wechat_sim import SimConfig, start_simulator

    config = SimConfig(
        appid=settings.WECHAT_APPID,
        secret=settings.WECHAT_SECRET,
        mch_id=settings.WECHAT_MCH_ID,
        api_key=settings.WECHAT_API_KEY,
    )

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
    server.daemon_threads = True
    server.set_app(WSGIHandler())
    web = threading.Thread(target=server.serve_forever, name="smoke-web", daemon=True)
    web.start()
    sim = start_simulator(port=0, config=config)
    try:
        requests.post(sim.base_url + "_sim/faults", json={"duplicate": 1}, timeout=5)
        with override_settings(
            WECHAT_API_BASE=sim.base_url,
            WECHAT_PAY_API_BASE=sim.base_url,
            PUBLIC_BASE_URL=f"http://127.0.0.1:{server.server_address[1]}",
        ):
            yield sim.base_url
    finally:
        sim.stop()
        server.shutdown()
        server.server_close()
