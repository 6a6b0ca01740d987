"""POST orders/{no}/pay and pay/sync, and the notify view posted to in-process."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from catalog.tests.factories import SkuFactory
from orders.models import Order
from orders.services import order_cancel
from payments import wechat
from payments.models import LedgerEntry, PaymentAttempt
from payments.services import SettleOutcome, payment_attempts_sync, payment_settle
from payments.tests.conftest import (
    notification_body,
    pay_and_settle,
    place_order,
    wechat_ledger,
)

pytestmark = pytest.mark.django_db

NOTIFY = "/api/v1/payments/wechat/notify"


def post_xml(api_client, body: bytes):
    return api_client.post(NOTIFY, data=body, content_type="text/xml")


def test_request_payment_parameters_and_the_prepay_is_reused(shopper, sku, wechat_sim):
    # given
    order = place_order(shopper.member, [(sku, 1)])
    # when
    first = shopper.pay(order)
    second = shopper.pay(order)
    # then
    assert first["paid"] is False
    assert set(first["request_payment"]) == {
        "timeStamp",
        "nonceStr",
        "package",
        "signType",
        "paySign",
    }
    assert first["request_payment"]["package"] == second["request_payment"]["package"]
    attempt = PaymentAttempt.objects.get(order=order)
    assert (attempt.status, attempt.amount_fen, attempt.seq) == ("prepaid", 1999, 1)
    assert first["request_payment"]["package"] == f"prepay_id={attempt.prepay_id}"


def test_the_wechat_trade_expires_with_the_order(shopper, sku, wechat_sim):
    # given
    order = place_order(shopper.member, [(sku, 1)])
    # when
    shopper.pay(order)
    # then: time_expire = the order's deadline (30 min), in Beijing time, whole seconds
    attempt = PaymentAttempt.objects.get(order=order)
    assert attempt.time_expire == order.expires_at.replace(microsecond=0)
    trade = wechat_sim.control("GET", "trades", params={"out_trade_no": attempt.out_trade_no})
    expected = timezone.localtime(attempt.time_expire).strftime("%Y%m%d%H%M%S")
    assert trade["results"][0]["time_expire"] == expected
    assert trade["results"][0]["total_fee"] == 1999
    assert trade["results"][0]["notify_url"] == "http://127.0.0.1:9/api/v1/payments/wechat/notify"


def test_an_order_about_to_expire_still_gets_wechats_five_minutes(shopper, sku, wechat_sim):
    # given: two minutes left
    order = place_order(shopper.member, [(sku, 1)])
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() + timedelta(minutes=2))
    # when
    shopper.pay(order)
    # then
    attempt = PaymentAttempt.objects.get(order=order)
    assert attempt.time_expire - attempt.created_at >= timedelta(minutes=5)


def test_another_members_order_is_not_found(shopper, sku, member_login, wechat_sim):
    order = place_order(shopper.member, [(sku, 1)])
    _, stranger = member_login("o-stranger")
    for path in (f"/api/v1/orders/{order.no}/pay", f"/api/v1/orders/{order.no}/pay/sync"):
        response = stranger.post(path)
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert not PaymentAttempt.objects.exists()


def test_paid_cancelled_and_expired_orders_cannot_be_paid(shopper, sku, wechat_sim, sim_pay):
    # given
    paid, cancelled, expired = (place_order(shopper.member, [(sku, 1)]) for _ in range(3))
    pay_and_settle(shopper, paid, sim_pay)
    order_cancel(order_id=cancelled.pk, actor="member:1", reason="")
    Order.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    # when
    answers = {
        name: shopper.client.post(f"/api/v1/orders/{order.no}/pay")
        for name, order in (("paid", paid), ("cancelled", cancelled), ("expired", expired))
    }
    # then
    assert {name: (a.status_code, a.json()["code"]) for name, a in answers.items()} == {
        "paid": (409, "order_already_paid"),
        "cancelled": (409, "order_not_payable"),
        "expired": (409, "order_not_payable"),
    }
    assert PaymentAttempt.objects.filter(order__in=[cancelled, expired]).count() == 0


def test_nothing_to_pay_by_wechat_is_paid_at_once(shopper, sku, wechat_sim):
    # given: stored value and discounts covered everything (set as the checkout would)
    order = place_order(shopper.member, [(sku, 1)])
    Order.objects.filter(pk=order.pk).update(balance_fen=1999, wechat_pay_fen=0)
    # when
    answer = shopper.pay(order)
    # then
    assert answer == {"paid": True}
    order.refresh_from_db()
    assert order.status == "paid"
    assert not PaymentAttempt.objects.exists()
    assert wechat_sim.request_count("/pay/unifiedorder") == 0


def test_wechat_refusing_the_prepay_answers_wechat_unavailable(shopper, sku, wechat_sim):
    # given
    wechat_sim.inject_error("/pay/unifiedorder", 1, errmsg="SYSTEMERROR")
    order = place_order(shopper.member, [(sku, 1)])
    # when
    failed = shopper.client.post(f"/api/v1/orders/{order.no}/pay")
    retried = shopper.pay(order)
    # then
    assert (failed.status_code, failed.json()["code"]) == (502, "wechat_unavailable")
    assert failed.json()["detail"]["err_code"] == "SYSTEMERROR"
    first, second = PaymentAttempt.objects.filter(order=order).order_by("seq")
    assert (first.status, first.last_error[:11]) == ("created", "SYSTEMERROR")
    assert second.status == "prepaid"
    assert retried["request_payment"]["package"] == f"prepay_id={second.prepay_id}"


def test_lost_notification_is_recovered_by_pay_sync(shopper, sku, wechat_sim, sim_pay):
    # given: every attempt of the notification is lost
    wechat_sim.control("POST", "faults", json={"drop": 1.0, "drop_attempts": 100})
    order = place_order(shopper.member, [(sku, 1)])
    sim_pay(shopper.pay(order))
    assert shopper.sync(order)["paid"] is True
    # when: asked again
    answer = shopper.sync(order)
    # then
    assert (answer["status"], answer["status_label"], answer["paid"]) == ("paid", "待发货", True)
    assert wechat_ledger(order) == [("wechat_payment", "in", 1999)]
    assert wechat_sim.request_count("/pay/orderquery") == 1  # the paid attempt is not asked again


def test_pay_sync_of_an_unpaid_order_answers_pending(shopper, sku, wechat_sim):
    order = place_order(shopper.member, [(sku, 1)])
    shopper.pay(order)
    answer = shopper.sync(order)
    assert (answer["status"], answer["paid"], answer["paid_at"]) == (
        "pending_payment",
        False,
        None,
    )
    assert not LedgerEntry.objects.exists()


def test_lost_notification_is_recovered_by_the_sync_beat(shopper, sku, wechat_sim, sim_pay):
    # given: every attempt of the notifications is lost
    wechat_sim.control("POST", "faults", json={"drop": 1.0, "drop_attempts": 100})
    fresh, stale = (place_order(shopper.member, [(sku, 1)]) for _ in range(2))
    for order in (fresh, stale):
        sim_pay(shopper.pay(order))
    PaymentAttempt.objects.filter(order=stale).update(
        created_at=timezone.now() - timedelta(minutes=4)
    )
    # when
    result = payment_attempts_sync()
    # then: only the attempt pending for more than 3 minutes was asked about
    assert (result["queried"], result["settled"], result["next_after_id"]) == (1, 1, 0)
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, fresh.status) == ("paid", "pending_payment")
    assert wechat_ledger(stale) == [("wechat_payment", "in", 1999)]


def test_the_sync_beat_works_in_bounded_batches(shopper, sku, wechat_sim, sim_pay):
    orders = [place_order(shopper.member, [(sku, 1)]) for _ in range(3)]
    for order in orders:
        sim_pay(shopper.pay(order))
    later = timezone.now() + timedelta(minutes=5)
    first = payment_attempts_sync(now=later, batch_size=2)
    rest = payment_attempts_sync(now=later, batch_size=2, after_id=first["next_after_id"])
    assert (first["settled"], rest["settled"], rest["next_after_id"]) == (2, 1, 0)
    assert first["next_after_id"] > 0


def test_a_signed_notification_posted_twice_settles_once(shopper, sku, wechat_sim, api_client):
    # given
    order = place_order(shopper.member, [(sku, 2)])
    shopper.pay(order)
    attempt = PaymentAttempt.objects.get(order=order)
    body = notification_body(
        attempt.out_trade_no, transaction_id="4200000000000000000000000001", total_fee=3998
    )
    # when
    answers = [post_xml(api_client, body) for _ in range(2)]
    # then
    assert [a.content for a in answers] == [wechat.SUCCESS_XML] * 2
    assert answers[0]["Content-Type"].startswith("text/xml")
    order.refresh_from_db()
    assert order.status == "paid"
    assert order.paid_at == datetime(2026, 1, 1, 12, 0, tzinfo=wechat.SHANGHAI)
    assert wechat_ledger(order) == [("wechat_payment", "in", 3998)]


def test_forged_malformed_foreign_and_unknown_notifications_write_nothing(
    shopper, sku, wechat_sim, api_client, caplog
):
    # given
    order = place_order(shopper.member, [(sku, 1)])
    shopper.pay(order)
    attempt = PaymentAttempt.objects.get(order=order)
    txid = "4200000000000000000000000009"
    bodies = {
        "forged": notification_body(
            attempt.out_trade_no, transaction_id=txid, total_fee=1999, api_key="k" * 32
        ),
        "wrong amount": notification_body(attempt.out_trade_no, transaction_id=txid, total_fee=1),
        "unknown trade": notification_body("NOSUCHTRADE", transaction_id=txid, total_fee=1999),
        "bad time": notification_body(
            attempt.out_trade_no, transaction_id=txid, total_fee=1999, time_end="yesterday"
        ),
        "not xml": b"hello",
        "text in xml": b"<xml>text</xml>",
        "nested": b"<xml><a><b>1</b></a><sign>X</sign></xml>",
        "empty": b"",
    }
    # when
    answers = {name: post_xml(api_client, body) for name, body in bodies.items()}
    # then
    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(bodies, 200)
    assert all(b"<return_code><![CDATA[FAIL]]>" in a.content for a in answers.values())
    assert not LedgerEntry.objects.exists()
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == "prepaid"
    assert "unknown out_trade_no NOSUCHTRADE" in caplog.text


def test_settle_outcomes(shopper, sku, wechat_sim):
    # given
    order = place_order(shopper.member, [(sku, 1)])
    shopper.pay(order)
    attempt = PaymentAttempt.objects.get(order=order)
    when = timezone.now()

    def settle(transaction_id: str, total_fee: int = 1999) -> SettleOutcome:
        return payment_settle(
            out_trade_no=attempt.out_trade_no,
            transaction_id=transaction_id,
            total_fee=total_fee,
            paid_at=when,
            source="test",
        )

    # when / then
    assert settle("T1", total_fee=2000) == SettleOutcome.AMOUNT_MISMATCH
    assert settle("T1") == SettleOutcome.SETTLED
    assert settle("T1") == SettleOutcome.ALREADY_SETTLED
    assert settle("T2") == SettleOutcome.CONFLICT
    assert wechat_ledger(order) == [("wechat_payment", "in", 1999)]


def test_pay_api_in_the_openapi_schema(client):
    schema = client.get("/api/schema/").content.decode()
    for path in (
        "/api/v1/orders/{no}/pay:",
        "/api/v1/orders/{no}/pay/sync:",
        "/api/v1/payments/wechat/notify:",
        "/api/v1/payments/wechat/refund-notify:",
    ):
        assert path in schema


def test_an_order_of_many_lines_names_the_first_in_the_trade_body(shopper, wechat_sim):
    skus = [SkuFactory(price_fen=100, stock=10) for _ in range(3)]
    order = place_order(shopper.member, [(s, 1) for s in skus])
    shopper.pay(order)
    trade = wechat_sim.control("GET", "trades")["results"][0]
    assert trade["body"].endswith("等多件商品")
