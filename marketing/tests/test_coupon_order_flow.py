"""A coupon through an order's life, end to end through the API and the WeChat simulator:
locked by the unpaid order, given back on cancel and expiry, used on payment (counted once,
spend rewards granted once), returned on a full refund.

Most tests use a minimal coupon-only provider built on the same coupon services (so they test
the coupon's life, not the campaigns' best-combination search); the last one goes through the
campaigns' PromotionProvider (auto-pick, lock, reason, cancel)."""

from datetime import timedelta
from uuid import uuid4

import pytest
from django.utils import timezone

from catalog.tests.factories import SkuFactory
from mall.discounts import Adjustment
from mall.errors import CouponNotApplicable
from marketing.coupon_rules import coupon_evaluate
from marketing.models import Coupon, CouponSpendRule
from marketing.providers.campaigns import PromotionProvider
from marketing.services.coupons import (
    coupon_data_for_member,
    coupon_lock_for_order,
    coupons_issue,
)
from marketing.tests.coupon_factories import CouponTemplateFactory
from members.models import Member
from orders.models import Order
from orders.services import order_close_if_unpaid
from orders.tests.factories import AddressFactory
from orders.tests.providers import use_providers
from payments.tests.conftest import refund_and_settle


class CouponOnlyProvider:
    """The chosen coupon alone (no auto-pick), judged by coupon_evaluate, locked on commit."""

    key = "test_coupons"
    handles_coupons = True

    def load(self, *, member, lines, now, choices):
        if not choices.coupon_id:
            return None
        return coupon_data_for_member(member_id=member.pk, coupon_id=choices.coupon_id, now=now)

    def apply(self, *, lines, loaded, goods_left_fen):
        if loaded is None:
            return []
        result = coupon_evaluate(loaded, lines)
        if not result.usable:
            raise CouponNotApplicable(reason=result.unusable_reason)
        return [
            Adjustment(
                source="coupon",
                name=loaded.name,
                amount_fen=result.amount_fen,
                line_weights=result.line_weights,
                ref=loaded.ref,
            )
        ]

    def commit(self, *, member, order, quote, loaded, now):
        if loaded is not None:
            coupon_lock_for_order(
                coupon_id=loaded.id, member_id=member.pk, order_id=order.pk, now=now
            )


@pytest.fixture
def shop(settings, monkeypatch, wechat_sim, member_login):
    use_providers(monkeypatch, CouponOnlyProvider())
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"  # notifications go nowhere; pay/sync settles
    member_id, client = member_login(f"o-coupon-{uuid4().hex[:8]}")
    member = Member.objects.get(pk=member_id)
    return {
        "member": member,
        "client": client,
        "address": AddressFactory(member=member),
        "sku": SkuFactory(price_fen=6000, stock=100),
    }


def order_body(shop, coupon, qty=2):
    return {
        "lines": [{"sku_id": shop["sku"].pk, "quantity": qty}],
        "address_id": shop["address"].pk,
        "coupon_id": coupon.pk,
    }


def place(shop, coupon, qty=2):
    client = shop["client"]
    body = order_body(shop, coupon, qty)
    preview = client.post("/api/v1/checkout/preview", body, format="json")
    assert preview.status_code == 200, preview.content
    response = client.post(
        "/api/v1/orders",
        body | {"expected_payable_fen": preview.json()["payable_fen"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid4().hex,
    )
    return preview.json(), response


def issue(shop, **template_fields):
    template = CouponTemplateFactory(**template_fields)
    (coupon,) = coupons_issue(template_id=template.pk, member_ids=[shop["member"].pk])
    return template, coupon


@pytest.mark.django_db
def test_coupon_locked_by_the_order_and_back_on_cancel(shop):
    # given 满100减30 on a 120 元 cart
    _, coupon = issue(shop)
    # when
    preview, response = place(shop, coupon)
    # then
    assert response.status_code == 201, response.content
    assert [(d["source"], d["amount_fen"], d["ref"]) for d in preview["discounts"]] == [
        ("coupon", 3000, f"coupon:{coupon.pk}")
    ]
    order = Order.objects.get(no=response.json()["no"])
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_id) == (Coupon.Status.LOCKED, order.pk)
    # the same coupon cannot go to a second order
    again = shop["client"].post("/api/v1/checkout/preview", order_body(shop, coupon), format="json")
    assert (again.status_code, again.json()["code"]) == (409, "coupon_unavailable")
    # when the shopper cancels
    cancel = shop["client"].post(f"/api/v1/orders/{order.no}/cancel", {}, format="json")
    assert cancel.status_code == 200, cancel.content
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_id) == (Coupon.Status.UNUSED, None)


@pytest.mark.django_db
def test_coupon_back_on_expiry_or_expired_if_its_time_is_over(shop):
    _, keeps = issue(shop)
    _, ends = issue(shop, ends_at=timezone.now() + timedelta(minutes=10))
    _, first = place(shop, keeps)
    _, second = place(shop, ends)
    # time passes: the second coupon's validity ends while its order waits for payment
    Coupon.objects.filter(pk=ends.pk).update(valid_until=timezone.now() - timedelta(seconds=1))
    for response in (first, second):
        order = Order.objects.get(no=response.json()["no"])
        assert order_close_if_unpaid(order_id=order.pk, now=order.expires_at + timedelta(hours=1))
    keeps.refresh_from_db()
    ends.refresh_from_db()
    assert (keeps.status, ends.status) == (Coupon.Status.UNUSED, Coupon.Status.EXPIRED)


@pytest.mark.django_db
def test_a_coupon_that_does_not_apply_is_refused(shop):
    _, coupon = issue(shop, threshold_fen=20000)
    preview = shop["client"].post(
        "/api/v1/checkout/preview", order_body(shop, coupon), format="json"
    )
    assert (preview.status_code, preview.json()["code"]) == (409, "coupon_not_applicable")
    assert "还差" in preview.json()["detail"]["reason"]


@pytest.mark.django_db(transaction=True)
def test_paid_used_once_spend_reward_once_and_returned_on_full_refund(
    shop, wechat_sim, django_capture_on_commit_callbacks
):
    # given a coupon, and a rule "paid ≥ 80 元 → a cash coupon"
    template, coupon = issue(shop)
    reward = CouponTemplateFactory(kind="cash", threshold_fen=0, amount_fen=500)
    CouponSpendRule.objects.create(name="满80返5元", min_paid_fen=8000).templates.set([reward])
    _, response = place(shop, coupon)
    order = Order.objects.get(no=response.json()["no"])
    assert order.payable_fen == 12000 - 3000
    # when the shopper pays through WeChat and comes back (pay/sync settles it)
    client = shop["client"]
    answer = client.post(f"/api/v1/orders/{order.no}/pay").json()
    wechat_sim.control("POST", "pay", json=answer["request_payment"])
    assert client.post(f"/api/v1/orders/{order.no}/pay/sync").json()["paid"] is True
    client.post(f"/api/v1/orders/{order.no}/pay/sync")  # asked again: nothing more happens
    # then
    coupon.refresh_from_db()
    template.refresh_from_db()
    assert (coupon.status, coupon.order_id, template.used_count) == (
        Coupon.Status.USED,
        order.pk,
        1,
    )
    assert coupon.used_at is not None
    rewards = Coupon.objects.filter(template=reward, member=shop["member"])
    assert list(rewards.values_list("source", "source_ref")) == [("spend", f"order:{order.pk}")]
    # when the whole order is refunded
    wechat_sim.control("POST", "faults", json={"refund_delay_s": 0})
    refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=order.pk,
        lines=None,
        reason="不想要了",
        requested_by="admin:test",
        restock=False,
    )
    # then the coupon is back and no longer counted as used; the reward it earned is revoked
    order.refresh_from_db()
    coupon.refresh_from_db()
    template.refresh_from_db()
    assert order.status == "closed"
    assert (coupon.status, coupon.order_id, template.used_count) == (Coupon.Status.UNUSED, None, 0)
    assert list(rewards.values_list("status", flat=True)) == [Coupon.Status.REVOKED]
    expired_tab = client.get("/api/v1/me/coupons", {"status": "expired"}).json()
    assert [(c["id"], c["status"]) for c in expired_tab["results"]] == [
        (rewards.get().pk, "revoked")
    ]


@pytest.mark.django_db
def test_through_the_promotion_provider_the_best_coupon_is_picked_and_locked(shop, monkeypatch):
    # given the campaigns' provider, and two usable coupons of which 满100减30 is worth more
    use_providers(monkeypatch, PromotionProvider())
    _, small = issue(shop, kind="cash", threshold_fen=0, amount_fen=500)
    _, best = issue(shop)
    body = {"lines": [{"sku_id": shop["sku"].pk, "quantity": 2}], "address_id": shop["address"].pk}
    client = shop["client"]
    # when the shopper does not choose (coupon_id omitted)
    preview = client.post("/api/v1/checkout/preview", body, format="json").json()
    response = client.post(
        "/api/v1/orders",
        body | {"expected_payable_fen": preview["payable_fen"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid4().hex,
    )
    # then
    assert response.status_code == 201, response.content
    assert [(d["source"], d["amount_fen"], d["ref"], d["auto"]) for d in preview["discounts"]] == [
        ("coupon", 3000, f"coupon:{best.pk}", True)
    ]
    order = Order.objects.get(no=response.json()["no"])
    best.refresh_from_db()
    small.refresh_from_db()
    assert (best.status, best.order_id, small.status) == (
        Coupon.Status.LOCKED,
        order.pk,
        Coupon.Status.UNUSED,
    )
    # a coupon the order cannot use, chosen explicitly, is refused with the reason
    _, far = issue(shop, threshold_fen=50000)
    refused = client.post(
        "/api/v1/checkout/preview", body | {"coupon_id": far.pk}, format="json"
    ).json()
    assert refused["code"] == "coupon_unavailable"
    assert "还差" in refused["message"]
    # cancelled: the coupon is back
    client.post(f"/api/v1/orders/{order.no}/cancel", {}, format="json")
    best.refresh_from_db()
    assert best.status == Coupon.Status.UNUSED
