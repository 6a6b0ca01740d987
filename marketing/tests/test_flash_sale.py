"""秒杀: carving units out of the SKU, admission through Redis, order → pay → sold, expiry of unpaid
orders (units back to the pool and the counters, once), reconcile, limits, session end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import StockLog
from catalog.tests.factories import SkuFactory
from marketing import flash_gate
from marketing.models import FlashItem, FlashPurchase, FlashSession
from marketing.services.flash_sale import (
    flash_admit,
    flash_counters_reconcile,
    flash_item_create,
    flash_release_for_order,
    flash_session_end,
    flash_sessions_end_due,
)
from members.models import Member
from orders.models import Order
from orders.services import order_close_if_unpaid
from orders.tests.factories import AddressFactory
from payments.tests.conftest import refund_and_settle

pytestmark = pytest.mark.django_db

PRICE, FLASH_PRICE = 5000, 1990


@pytest.fixture(autouse=True)
def _no_callbacks(settings: Any) -> None:
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"  # WeChat's notifications go nowhere


@pytest.fixture
def running_session() -> FlashSession:
    now = timezone.now()
    return FlashSession.objects.create(
        name="10:00 场", starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(hours=1)
    )


@pytest.fixture
def item(running_session: FlashSession, django_capture_on_commit_callbacks: Any) -> FlashItem:
    sku = SkuFactory(price_fen=PRICE, stock=100)
    with django_capture_on_commit_callbacks(execute=True):  # loads it into Redis
        return flash_item_create(
            session=running_session,
            sku_id=sku.pk,
            flash_price_fen=FLASH_PRICE,
            total_stock=10,
            per_member_limit=2,
        )


def order_body(item: FlashItem, member_id: int, quantity: int = 1) -> dict[str, Any]:
    address = AddressFactory(member_id=member_id)
    return {
        "lines": [{"sku_id": item.sku_id, "quantity": quantity}],
        "address_id": address.pk,
        "promotion": {"kind": "flash", "id": item.pk},
    }


def place_flash_order(client: APIClient, body: dict[str, Any], capture: Any) -> dict[str, Any]:
    preview = client.post("/api/v1/checkout/preview", body, format="json")
    assert preview.status_code == 200, preview.content
    with capture(execute=True):
        answer = client.post(
            "/api/v1/orders",
            body | {"expected_payable_fen": preview.json()["payable_fen"]},
            format="json",
            HTTP_IDEMPOTENCY_KEY=uuid4().hex,
        )
    assert answer.status_code == 201, answer.content
    return answer.json()


def test_activation_carves_the_units_out_of_the_sku_with_a_log(item: FlashItem) -> None:
    item.sku.refresh_from_db()
    assert (item.status, item.flash_stock, item.sku.stock) == ("active", 10, 90)
    log = StockLog.objects.get(sku_id=item.sku_id)
    assert (log.change, log.reason, log.reference) == (-10, "flash_sale", f"flash:{item.pk}")
    assert flash_gate.item_counters(item.pk)["meta"]["left"] == 10


def test_admitted_buyer_orders_at_the_flash_price_pays_and_the_unit_is_sold(
    item: FlashItem, member_login: Any, wechat_sim: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given: admitted
    member_id, client = member_login("o-flash-buyer")
    admitted = client.post(f"/api/v1/flash/items/{item.pk}/admit", {"quantity": 1}, format="json")
    assert admitted.status_code == 200, admitted.content
    assert admitted.json()["admitted"] is True
    # when: the order
    order = place_flash_order(
        client, order_body(item, member_id), django_capture_on_commit_callbacks
    )
    # then: the flash price, the units from the flash pool, not from the SKU
    breakdown = order["breakdown"]
    assert breakdown["discounts"] == [
        {
            "source": "flash_sale",
            "name": "秒杀价",
            "amount_fen": PRICE - FLASH_PRICE,
            "ref": f"flash:{item.pk}",
            "auto": False,
        }
    ]
    assert (
        breakdown["goods_fen"] - PRICE + FLASH_PRICE
        == breakdown["payable_fen"] - breakdown["shipping_fen"]
    )
    db_order = Order.objects.get(no=order["no"])
    assert db_order.lines.get().stock_held_by == "flash_sale"
    assert (db_order.promotion_kind, db_order.promotion_id) == ("flash", item.pk)
    assert (db_order.expires_at - db_order.created_at).total_seconds() == 300
    item.refresh_from_db()
    item.sku.refresh_from_db()
    assert (item.flash_stock, item.sold, item.sku.stock) == (9, 0, 90)
    assert flash_gate.item_counters(item.pk)["admissions"] == {}  # consumed by the order
    # when: paid through WeChat (the simulator), settled by pay/sync
    answer = client.post(f"/api/v1/orders/{order['no']}/pay")
    assert answer.status_code == 200, answer.content
    wechat_sim.control("POST", "pay", json=answer.json()["request_payment"])
    assert client.post(f"/api/v1/orders/{order['no']}/pay/sync").json()["paid"] is True
    # then
    item.refresh_from_db()
    assert (item.flash_stock, item.sold) == (9, 1)
    assert FlashPurchase.objects.get(order_id=db_order.pk).status == "paid"
    # when: refunded in full (the goods never left: restocked to the SKU)
    wechat_sim.control("POST", "faults", json={"refund_delay_s": 0})
    refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=db_order.pk,
        lines=None,
        reason="不想要了",
        requested_by="admin:1",
        restock=True,
    )
    # then: no longer sold; the purchase no longer counts against the limit
    item.refresh_from_db()
    assert (item.flash_stock, item.sold) == (9, 0)
    assert FlashPurchase.objects.get(order_id=db_order.pk).status == "refunded"


def test_an_unpaid_flash_order_expires_after_300_s_and_its_unit_goes_back_once(
    item: FlashItem, member_login: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    member_id, client = member_login("o-flash-late")
    assert client.post(f"/api/v1/flash/items/{item.pk}/admit", format="json").status_code == 200
    order = Order.objects.get(
        no=place_flash_order(
            client, order_body(item, member_id), django_capture_on_commit_callbacks
        )["no"]
    )
    assert flash_gate.item_counters(item.pk)["meta"]["left"] == 9
    # when: not yet due, then due
    early = order_close_if_unpaid(order_id=order.pk, now=order.created_at + timedelta(seconds=299))
    with django_capture_on_commit_callbacks(execute=True):
        expired = order_close_if_unpaid(
            order_id=order.pk, now=order.created_at + timedelta(seconds=301)
        )
    again = flash_release_for_order(order_id=order.pk)
    # then: back to the pool and the Redis counters, exactly once; the SKU's stock untouched
    assert (early, expired, again) == (False, True, False)
    item.refresh_from_db()
    item.sku.refresh_from_db()
    assert (item.flash_stock, item.sold, item.sku.stock) == (10, 0, 90)
    counters = flash_gate.item_counters(item.pk)
    assert (counters["meta"]["left"], counters["counts"]) == (10, {})
    assert FlashPurchase.objects.get(order_id=order.pk).status == "released"


def test_reconcile_rebuilds_drifted_counters_from_the_database(
    item: FlashItem, django_capture_on_commit_callbacks: Any
) -> None:
    # given: two members admitted, one of them ordered (DB: pool 9, held 1)
    now = timezone.now()
    ordered, waiting = Member.objects.create(openid="o-a"), Member.objects.create(openid="o-b")
    flash_admit(member_id=ordered.pk, item_id=item.pk, quantity=1, now=now)
    flash_admit(member_id=waiting.pk, item_id=item.pk, quantity=1, now=now)
    FlashItem.objects.filter(pk=item.pk).update(flash_stock=9)
    FlashPurchase.objects.create(
        order_id=1, order_no="X1", item=item, member=ordered, quantity=1, admission_token="t1"
    )
    flash_gate.admission_consume(
        item_id=item.pk,
        member_id=ordered.pk,
        token=flash_gate.admission_get(item_id=item.pk, member_id=ordered.pk, now_ms=0).token,
    )
    # and Redis drifted (lost writes, a restart …)
    client = flash_gate.redis_client()
    client.hset(f"flash:{{{item.pk}}}:meta", "left", 0)
    client.hset(f"flash:{{{item.pk}}}:cnt", ordered.pk, 7)
    # when
    assert flash_counters_reconcile(now=now) == 1
    # then: left = pool − live admissions; counts = held + paid + live admission
    counters = flash_gate.item_counters(item.pk)
    assert counters["meta"]["left"] == 8
    assert counters["counts"] == {ordered.pk: 1, waiting.pk: 1}
    # when: the waiting member's admission expires unused: the next reconcile gives it back
    later = now + timedelta(seconds=121)
    flash_counters_reconcile(now=later)
    counters = flash_gate.item_counters(item.pk)
    assert (counters["meta"]["left"], counters["counts"]) == (9, {ordered.pk: 1})


def test_an_expired_admission_is_given_back_when_the_member_asks_again(item: FlashItem) -> None:
    member = Member.objects.create(openid="o-again")
    now = timezone.now()
    first = flash_admit(member_id=member.pk, item_id=item.pk, quantity=2, now=now)
    same = flash_admit(member_id=member.pk, item_id=item.pk, quantity=1, now=now)
    assert (same.token, same.quantity) == (first.token, 2)  # a retry gets the same admission
    assert flash_gate.item_counters(item.pk)["meta"]["left"] == 8
    renewed = flash_admit(
        member_id=member.pk, item_id=item.pk, quantity=1, now=now + timedelta(seconds=121)
    )
    assert renewed.token != first.token
    counters = flash_gate.item_counters(item.pk)
    assert (counters["meta"]["left"], counters["counts"]) == (9, {member.pk: 1})


def test_per_member_limit_counts_held_and_paid_units(
    item: FlashItem, member_login: Any, django_capture_on_commit_callbacks: Any
) -> None:
    member_id, client = member_login("o-flash-greedy")
    url = f"/api/v1/flash/items/{item.pk}/admit"
    over = client.post(url, {"quantity": 3}, format="json")
    assert (over.status_code, over.json()["code"]) == (409, "flash_limit_reached")
    assert client.post(url, {"quantity": 2}, format="json").status_code == 200
    place_flash_order(client, order_body(item, member_id, 2), django_capture_on_commit_callbacks)
    # the 2 held units count: no more admission, and an order without one is refused
    again = client.post(url, {"quantity": 1}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "flash_limit_reached")
    flash_counters_reconcile()  # rebuilt from the database: still at the limit
    again = client.post(url, {"quantity": 1}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "flash_limit_reached")
    body = order_body(item, member_id)
    preview = client.post("/api/v1/checkout/preview", body, format="json")
    assert (preview.status_code, preview.json()["code"]) == (409, "flash_limit_reached")


def test_an_order_needs_a_live_admission(
    item: FlashItem, member_login: Any, django_capture_on_commit_callbacks: Any
) -> None:
    member_id, client = member_login("o-flash-sneaky")
    body = order_body(item, member_id)
    preview = client.post("/api/v1/checkout/preview", body, format="json")
    assert (preview.status_code, preview.json()["code"]) == (409, "flash_not_admitted")
    answer = client.post(
        "/api/v1/orders",
        body | {"expected_payable_fen": FLASH_PRICE},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid4().hex,
    )
    assert (answer.status_code, answer.json()["code"]) == (409, "flash_not_admitted")
    # a flash choice is one line of the item's SKU
    client.post(f"/api/v1/flash/items/{item.pk}/admit", format="json")
    other = SkuFactory(price_fen=100, stock=5)
    body["lines"].append({"sku_id": other.pk, "quantity": 1})
    preview = client.post("/api/v1/checkout/preview", body, format="json")
    assert (preview.status_code, preview.json()["code"]) == (409, "promotion_unavailable")
    assert not FlashPurchase.objects.exists()


def test_admission_outside_the_window(
    item: FlashItem, member_login: Any, django_assert_num_queries: Any
) -> None:
    _, client = member_login("o-flash-early")
    now = timezone.now()
    FlashSession.objects.filter(pk=item.session_id).update(
        starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2)
    )
    flash_counters_reconcile()
    early = client.post(f"/api/v1/flash/items/{item.pk}/admit", format="json")
    assert (early.status_code, early.json()["code"]) == (400, "flash_not_started")
    FlashSession.objects.filter(pk=item.session_id).update(
        starts_at=now - timedelta(hours=2), ends_at=now - timedelta(hours=1)
    )
    flash_gate.redis_client().delete(f"flash:{{{item.pk}}}:meta")  # not in Redis
    late = client.post(f"/api/v1/flash/items/{item.pk}/admit", format="json")
    assert (late.status_code, late.json()["code"]) == (400, "flash_ended")
    with django_assert_num_queries(1):  # the token: Redis remembers the item is over
        late = client.post(f"/api/v1/flash/items/{item.pk}/admit", format="json")
    assert (late.status_code, late.json()["code"]) == (400, "flash_ended")
    bad = client.post(f"/api/v1/flash/items/{item.pk}/admit", {"quantity": 0}, format="json")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid")
    missing = client.post("/api/v1/flash/items/999999/admit", format="json")
    assert missing.status_code == 404
    anonymous = APIClient().post(f"/api/v1/flash/items/{item.pk}/admit", format="json")
    assert anonymous.status_code == 401


def test_admission_is_one_query_and_one_redis_call(
    item: FlashItem, member_login: Any, django_assert_num_queries: Any
) -> None:
    _, client = member_login("o-flash-fast")
    with django_assert_num_queries(1):  # the token lookup
        answer = client.post(f"/api/v1/flash/items/{item.pk}/admit", format="json")
    assert answer.status_code == 200


def test_session_end_returns_unsold_units_and_later_releases_go_to_the_sku(
    item: FlashItem, member_login: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given: one unit held by an unpaid order
    member_id, client = member_login("o-flash-end")
    client.post(f"/api/v1/flash/items/{item.pk}/admit", format="json")
    order = Order.objects.get(
        no=place_flash_order(
            client, order_body(item, member_id), django_capture_on_commit_callbacks
        )["no"]
    )
    # when: the session's time is over
    FlashSession.objects.filter(pk=item.session_id).update(
        starts_at=timezone.now() - timedelta(hours=2), ends_at=timezone.now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert flash_sessions_end_due() == 1
    assert flash_session_end(session_id=item.session_id) == 0  # once
    # then: the 9 unsold units are back in the SKU, logged; Redis forgot the item
    item.refresh_from_db()
    item.sku.refresh_from_db()
    assert (item.status, item.flash_stock, item.sku.stock) == ("returned", 0, 99)
    assert flash_gate.item_counters(item.pk)["meta"] == {
        "start": 0,
        "end": 0,
        "limit": 0,
        "left": 0,
    }
    # when: the unpaid order expires afterwards: its unit goes to the SKU too
    order_close_if_unpaid(order_id=order.pk, now=order.expires_at)
    item.sku.refresh_from_db()
    assert item.sku.stock == 100
    assert StockLog.objects.filter(sku_id=item.sku_id, reason="flash_sale").count() == 3


def test_without_redis_admission_is_judged_by_the_database(
    item: FlashItem, settings: Any, member_login: Any, django_capture_on_commit_callbacks: Any
) -> None:
    member_id, client = member_login("o-flash-embedded")
    settings.REDIS_URL = ""  # the embedded mode
    assert client.post(f"/api/v1/flash/items/{item.pk}/admit", format="json").status_code == 200
    place_flash_order(client, order_body(item, member_id, 2), django_capture_on_commit_callbacks)
    over = client.post(f"/api/v1/flash/items/{item.pk}/admit", format="json")
    assert (over.status_code, over.json()["code"]) == (409, "flash_limit_reached")
    assert FlashPurchase.objects.get().admission_token is None


def test_sessions_of_the_day_and_their_items(
    running_session: FlashSession, django_assert_max_num_queries: Any
) -> None:
    # given: today's 10:00 (running), and one tomorrow (not listed)
    tomorrow = timezone.now() + timedelta(days=1)
    FlashSession.objects.create(
        name="明日", starts_at=tomorrow, ends_at=tomorrow + timedelta(hours=1)
    )
    items = [
        flash_item_create(
            session=running_session,
            sku_id=SkuFactory(price_fen=PRICE, stock=20).pk,
            flash_price_fen=FLASH_PRICE + n,
            total_stock=5,
        )
        for n in range(12)
    ]
    flash_counters_reconcile()
    member = Member.objects.create(openid="o-list")
    flash_admit(member_id=member.pk, item_id=items[0].pk, quantity=1)
    client = APIClient()
    # when
    sessions = client.get("/api/v1/flash/sessions").json()
    with django_assert_max_num_queries(3):  # session, count, page
        page = client.get(f"/api/v1/flash/sessions/{running_session.pk}/items").json()
    # then
    local_today = timezone.localdate()
    expected = [
        s.pk for s in (running_session,) if timezone.localtime(s.starts_at).date() == local_today
    ]
    assert [s["id"] for s in sessions["results"]] == expected
    if expected:
        assert sessions["results"][0]["status"] == "ongoing"
    assert (page["count"], len(page["results"]), page["session"]["status"]) == (12, 12, "ongoing")
    first = page["results"][0]
    assert (first["id"], first["flash_price_fen"], first["price_fen"]) == (
        items[0].pk,
        FLASH_PRICE,
        PRICE,
    )
    assert (first["remaining"], page["results"][1]["remaining"]) == (4, 5)
    assert first["title"] == items[0].sku.product.title


def test_demo_seeds_todays_sessions_once_and_the_command_reconciles() -> None:
    from io import StringIO

    from django.core.management import call_command

    from catalog.demo import seed_demo as seed_catalog
    from marketing.demo_flash_sale import seed_demo

    seed_catalog(StringIO())
    seed_demo(StringIO())
    items = FlashItem.objects.count()
    seed_demo(StringIO())
    assert FlashSession.objects.count() == 3
    assert FlashItem.objects.count() == items > 0
    assert set(FlashItem.objects.values_list("status", flat=True)) == {"active"}
    out = StringIO()
    call_command("reconcile_flash", stdout=out)
    assert "reconciled" in out.getvalue()


def test_admin_adds_items_inline_shows_figures_and_ends_a_session(
    admin_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given: a session created in the admin with one item inline
    sku = SkuFactory(price_fen=PRICE, stock=50)
    now = timezone.localtime()
    fmt = "%Y-%m-%d %H:%M:%S"
    form = {
        "name": "14:00 场",
        "starts_at_0": (now - timedelta(minutes=5)).strftime(fmt.split()[0]),
        "starts_at_1": (now - timedelta(minutes=5)).strftime(fmt.split()[1]),
        "ends_at_0": (now + timedelta(hours=1)).strftime(fmt.split()[0]),
        "ends_at_1": (now + timedelta(hours=1)).strftime(fmt.split()[1]),
        "is_active": "on",
        "items-TOTAL_FORMS": "1",
        "items-INITIAL_FORMS": "0",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "1000",
        "items-0-sku": str(sku.pk),
        "items-0-flash_price_fen": "1990",
        "items-0-total_stock": "8",
        "items-0-per_member_limit": "1",
        "items-0-sort_order": "0",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/marketing/flashsession/add/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    item = FlashItem.objects.get()
    sku.refresh_from_db()
    assert (item.status, item.flash_stock, sku.stock) == ("active", 8, 42)
    assert flash_gate.item_counters(item.pk)["meta"]["left"] == 8
    # the list and the change page render with the figures
    listing = admin_client.get("/admin/marketing/flashsession/")
    assert listing.status_code == 200
    assert "14:00 场" in listing.content.decode()
    assert (
        admin_client.get(f"/admin/marketing/flashsession/{item.session_id}/change/").status_code
        == 200
    )
    assert admin_client.get("/admin/marketing/flashpurchase/").status_code == 200
    # when: ended early
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/marketing/flashsession/",
            {"action": "end_sessions", "_selected_action": [item.session_id]},
        )
    # then
    item.refresh_from_db()
    sku.refresh_from_db()
    assert (item.status, item.flash_stock, sku.stock) == ("returned", 0, 50)
    assert FlashSession.objects.get().closed_at is not None


def test_beat_tasks_reconcile_and_end_sessions(item: FlashItem, settings: Any) -> None:
    from marketing.tasks.flash_sale import flash_counters_reconcile_task, flash_sessions_end_task

    beat = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {
        "marketing.tasks.flash_sale.flash_counters_reconcile_task",
        "marketing.tasks.flash_sale.flash_sessions_end_task",
    } <= beat
    flash_gate.redis_client().delete(f"flash:{{{item.pk}}}:meta")  # Redis lost it
    assert flash_counters_reconcile_task.delay().get() == 1
    assert flash_gate.item_counters(item.pk)["meta"]["left"] == 10
    assert flash_sessions_end_task.delay().get() == 0  # still running


def test_admission_needs_a_live_token_of_an_active_member(
    item: FlashItem, member_login: Any, api_client: Any
) -> None:
    url = f"/api/v1/flash/items/{item.pk}/admit"
    member_id, client = member_login("o-flash-disabled")
    Member.objects.filter(pk=member_id).update(is_active=False)
    assert client.post(url, format="json").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert api_client.post(url, format="json").status_code == 401
