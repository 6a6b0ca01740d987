"""Member levels: growth from paid amounts (1 per yuan), reversed by refunds, the level following
up and down with a log; /me shows the progress; the level discount in the checkout preview."""
# ruff: noqa: F811 (pytest fixtures imported from the payments tests)

import pytest

from catalog.tests.factories import SkuFactory
from members.levels import member_growth_add, member_growth_reverse
from members.models import GrowthLog, LevelChangeLog, Member, MemberLevel, PointsLot
from members.points import points_balance_matches_ledger
from members.tests.factories import MemberFactory
from orders.tests.factories import AddressFactory
from payments.tests.conftest import (  # noqa: F401 (fixtures)
    instant_refunds,
    pay_and_settle,
    place_order,
    refund_and_settle,
    shopper,
    sim_pay,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def levels(db):
    return (
        MemberLevel.objects.create(name="白银会员", growth_threshold=100, discount_bp=9800),
        MemberLevel.objects.create(
            name="黄金会员",
            growth_threshold=500,
            discount_bp=9500,
            points_multiplier_bp=15000,
        ),
    )


def test_growth_moves_the_level_up_and_down_once_per_reference(levels):
    # given
    silver, gold = levels
    member = MemberFactory()
    # when: 99.99 yuan, then 60 yuan (replayed), then a refund of 60 yuan
    member_growth_add(member_id=member.pk, amount_fen=9999, reference="order:A")
    member.refresh_from_db()
    assert (member.growth, member.level_id) == (99, None)
    assert member_growth_add(member_id=member.pk, amount_fen=50000, reference="order:B") == 500
    assert member_growth_add(member_id=member.pk, amount_fen=50000, reference="order:B") == 0
    member.refresh_from_db()
    assert (member.growth, member.level_id) == (599, gold.pk)
    member_growth_reverse(member_id=member.pk, amount_fen=45000, reference="RB001")
    member_growth_reverse(member_id=member.pk, amount_fen=45000, reference="RB001")
    # then
    member.refresh_from_db()
    assert (member.growth, member.level_id) == (149, silver.pk)
    changes = list(
        LevelChangeLog.objects.filter(member=member)
        .order_by("id")
        .values_list("from_level_id", "to_level_id")
    )
    assert changes == [(None, gold.pk), (gold.pk, silver.pk)]
    assert GrowthLog.objects.filter(member=member).count() == 3


def test_growth_never_goes_below_zero(levels):
    member = MemberFactory()
    member_growth_add(member_id=member.pk, amount_fen=1000, reference="order:X")
    member_growth_reverse(member_id=member.pk, amount_fen=99999, reference="RX")
    member.refresh_from_db()
    assert member.growth == 0


def test_an_order_refunded_in_parts_gives_back_exactly_its_growth(levels):
    # given: 100.50 yuan paid → 100 growth (floors of each third would only take back 99)
    member = MemberFactory()
    member_growth_add(member_id=member.pk, amount_fen=10050, reference="order:N1", order_no="N1")
    # when: three refunds of 33.50 yuan
    taken = [
        member_growth_reverse(
            member_id=member.pk, amount_fen=3350, reference=f"RN1{i}", order_no="N1"
        )
        for i in range(3)
    ]
    # then
    member.refresh_from_db()
    assert (taken, member.growth, member.level_id) == ([33, 33, 34], 0, None)


def test_pay_and_refund_end_to_end_move_growth_level_and_points(
    levels, shopper, sim_pay, instant_refunds, django_capture_on_commit_callbacks
):
    # given: a 600-yuan order paid through the simulator
    silver, gold = levels
    sku = SkuFactory(price_fen=30000, stock=10)
    order = place_order(shopper.member, [(sku, 2)])
    # when
    pay_and_settle(shopper, order, sim_pay)
    # then: growth 600 → gold; the order's points wait in a pending lot (not spendable)
    member = Member.objects.get(pk=shopper.member.pk)
    assert (member.growth, member.level_id) == (order.payable_fen // 100, gold.pk)
    lot = PointsLot.objects.get(source_key=f"order:{order.no}")
    assert (lot.status, lot.points, member.points_balance) == ("pending", 600, 0)
    me = shopper.client.get("/api/v1/me").json()
    assert me["level"] == {"id": gold.pk, "name": "黄金会员", "discount_bp": 9500}
    assert (me["growth"], me["next_level"], me["growth_gap"]) == (600, None, 0)
    assert me["points_pending"] == 600
    # when: half refunded, then the rest
    line = order.lines.get()
    from payments.services import RefundLineInput

    refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=order.pk,
        lines=[RefundLineInput(order_line_id=line.pk, quantity=1)],
        reason="退一件",
        requested_by="admin:boss",
        restock=True,
    )
    member.refresh_from_db()
    lot.refresh_from_db()
    assert (member.growth, member.level_id) == (300, silver.pk)
    assert (lot.status, lot.remaining) == ("pending", 300)
    refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=order.pk,
        lines=None,
        reason="全退",
        requested_by="admin:boss",
        restock=True,
    )
    # then: no growth, no level, the pending points cancelled
    member.refresh_from_db()
    lot.refresh_from_db()
    assert (member.growth, member.level_id) == (0, None)
    assert (lot.status, lot.remaining) == ("cancelled", 0)
    assert points_balance_matches_ledger(member_id=member.pk)
    assert list(
        LevelChangeLog.objects.filter(member=member).order_by("id").values_list("to_level_id")
    ) == [(gold.pk,), (silver.pk,), (None,)]


def test_me_shows_the_next_level_and_the_gap(levels, shopper, django_assert_max_num_queries):
    # given
    member_growth_add(member_id=shopper.member.pk, amount_fen=12345, reference="order:G")
    # when: token + member, level, next level, pending points
    with django_assert_max_num_queries(5):
        me = shopper.client.get("/api/v1/me").json()
    # then
    assert me["level"]["name"] == "白银会员"
    assert me["next_level"] == {"name": "黄金会员", "growth_threshold": 500}
    assert (me["growth"], me["growth_gap"], me["points"]) == (123, 377, 0)
    assert {"balance_fen", "nickname", "avatar_url"} <= set(me)


def test_level_discount_in_the_checkout_preview(levels, client_for_member):
    # given: a gold member (95折); 3 × 33.33 + 1 × 9.99 yuan
    _, gold = levels
    member = MemberFactory(level=gold, growth=600)
    client = client_for_member(member)
    address = AddressFactory(member=member, is_default=True)
    tea, cup = SkuFactory(price_fen=3333, stock=10), SkuFactory(price_fen=999, stock=10)
    # when
    answer = client.post(
        "/api/v1/checkout/preview",
        {
            "lines": [{"sku_id": tea.pk, "quantity": 3}, {"sku_id": cup.pk, "quantity": 1}],
            "address_id": address.pk,
            "coupon_id": 0,
        },
        format="json",
    )
    # then: 5% of 10998 = 549.9 → 550 fen, rounded half up once per order, allocated to lines
    assert answer.status_code == 200, answer.content
    body = answer.json()
    level = [d for d in body["discounts"] if d["source"] == "level"]
    assert len(level) == 1
    assert level[0]["amount_fen"] == 550
    assert level[0]["name"] == "黄金会员95折"
    assert level[0].get("ref", f"level:{gold.pk}") == f"level:{gold.pk}"
    assert sum(line["discount_fen"] for line in body["lines"]) == 550
    assert body["payable_fen"] == 10998 - 550 + body["shipping_fen"]


def test_no_level_no_discount(levels, client_for_member):
    member = MemberFactory()
    client = client_for_member(member)
    address = AddressFactory(member=member, is_default=True)
    sku = SkuFactory(price_fen=10000, stock=10)
    body = client.post(
        "/api/v1/checkout/preview",
        {"lines": [{"sku_id": sku.pk, "quantity": 1}], "address_id": address.pk, "coupon_id": 0},
        format="json",
    ).json()
    assert not [d for d in body["discounts"] if d["source"] == "level"]


def test_a_free_shipping_level_pays_no_shipping(levels, client_for_member):
    # given: a level with 包邮 and no discount; the shop charges 12 yuan per order
    from orders.tests.factories import FreightRuleFactory, FreightTemplateFactory

    template = FreightTemplateFactory(is_default=True, charge_by="piece", free_over_fen=None)
    FreightRuleFactory(template=template, first_fee_fen=1200, extra_fee_fen=0)
    vip = MemberLevel.objects.create(
        name="钻石会员", growth_threshold=5000, discount_bp=10000, free_shipping=True
    )
    member = MemberFactory(level=vip, growth=6000)
    address = AddressFactory(member=member, is_default=True)
    sku = SkuFactory(price_fen=2000, stock=10)
    body = (
        client_for_member(member)
        .post(
            "/api/v1/checkout/preview",
            {
                "lines": [{"sku_id": sku.pk, "quantity": 1}],
                "address_id": address.pk,
                "coupon_id": 0,
            },
            format="json",
        )
        .json()
    )
    # then: the fee is shown and taken off, named
    assert body["shipping_fen"] == 1200
    assert [(d["source"], d["name"], d["amount_fen"]) for d in body["discounts"]] == [
        ("level_shipping", "钻石会员包邮", 1200)
    ]
    assert body["payable_fen"] == 2000
    assert sum(line["paid_fen"] for line in body["lines"]) == 2000


@pytest.fixture
def client_for_member():
    from rest_framework.test import APIClient

    def make(member):
        client = APIClient()
        client.force_authenticate(user=member)
        return client

    return make


def test_level_discount_skips_special_price_lines_and_rounds_once_per_order():
    # given: a flash-sale line (a special price) and two normal lines of 0.01 yuan short of round
    from types import SimpleNamespace

    from members.providers import LevelDiscountProvider, LoadedLevel

    def line(goods_left_fen, parts=()):
        return SimpleNamespace(goods_left_fen=goods_left_fen, discount_parts=parts)

    lines = (line(1000, (("flash_sale", 200),)), line(333), line(777))
    loaded = LoadedLevel(id=7, name="钻石会员", discount_bp=8850, label="88.5折")
    # when
    [adjustment] = LevelDiscountProvider().apply(lines=lines, loaded=loaded, goods_left_fen=2110)
    # then: 11.5% of 1110 = 127.65 → 128, only on the normal lines
    assert adjustment.amount_fen == 128
    assert adjustment.line_weights == (0, 333, 777)
    assert (adjustment.source, adjustment.ref) == ("level", "level:7")
    assert adjustment.name == "钻石会员88.5折"
    assert LevelDiscountProvider().apply(lines=lines, loaded=None, goods_left_fen=2110) == []
