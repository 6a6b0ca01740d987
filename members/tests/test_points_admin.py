"""The member admin: list with level, points, balance, orders and spend (bounded queries), the
detail with ledgers, the manual points adjustment (reason required, logged), level config."""
# ruff: noqa: F811 (pytest fixtures imported from the payments tests)

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.tests.factories import SkuFactory
from members.models import LevelChangeLog, Member, MemberLevel, PointsLedger
from members.points import points_earn
from members.tests.factories import MemberFactory
from payments.models import LedgerEntry
from payments.tests.conftest import pay_and_settle, place_order, shopper, sim_pay  # noqa: F401

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/members/member/"


def test_member_list_shows_orders_count_and_spend_in_bounded_queries(
    admin_client, shopper, sim_pay
):
    # given: one paying shopper with a level, and 12 other members
    gold = MemberLevel.objects.create(name="黄金会员", growth_threshold=10, discount_bp=9500)
    order = place_order(shopper.member, [(SkuFactory(price_fen=2500, stock=5), 2)])
    pay_and_settle(shopper, order, sim_pay)
    MemberFactory.create_batch(12)
    # when
    with CaptureQueriesContext(connection) as queries:
        answer = admin_client.get(CHANGELIST)
    # then
    assert answer.status_code == 200
    assert len(queries) <= 12
    row = next(r for r in answer.context["cl"].result_list if r.pk == shopper.member.pk)
    assert (row.orders_count, row.spend_fen, row.level_id) == (1, order.payable_fen, gold.pk)
    assert "黄金会员" in answer.content.decode()


def test_member_detail_shows_the_points_ledger(admin_client):
    member = MemberFactory()
    points_earn(member_id=member.pk, points=15, source_key="test:detail", note="签到（连续1天）")
    answer = admin_client.get(f"{CHANGELIST}{member.pk}/change/")
    assert answer.status_code == 200
    assert "签到（连续1天）" in answer.content.decode()


def test_member_detail_shows_the_balance_ledger(admin_client):
    # given: one stored-value top-up of the member, one of another member
    member, other = MemberFactory.create_batch(2)
    for who, key in ((member, "TOPUP-MINE"), (other, "TOPUP-OTHER")):
        LedgerEntry.objects.create(
            kind=LedgerEntry.Kind.BALANCE_TOP_UP,
            direction=LedgerEntry.Direction.IN,
            channel=LedgerEntry.Channel.BALANCE,
            amount_fen=12345,
            external_key=key,
            member=who,
            occurred_at=timezone.now(),
        )
    # when
    page = admin_client.get(f"{CHANGELIST}{member.pk}/change/").content.decode()
    # then
    assert "储值余额流水" in page
    assert "TOPUP-MINE" in page
    assert "¥123.45" in page
    assert "TOPUP-OTHER" not in page


def test_manual_points_adjustment_with_a_reason(admin_client):
    member = MemberFactory()
    url = f"{CHANGELIST}{member.pk}/points-adjust/"
    assert admin_client.get(url).status_code == 200
    # when: no reason → the form again; then a valid one
    missing = admin_client.post(url, {"points": 30, "reason": ""})
    assert missing.status_code == 200
    done = admin_client.post(url, {"points": 30, "reason": "活动补发"})
    too_many = admin_client.post(url, {"points": -31, "reason": "扣回"})
    # then
    assert done.status_code == 302
    assert too_many.status_code == 200
    entry = PointsLedger.objects.get(member=member)
    assert (entry.kind, entry.points, entry.note, entry.operator) == (
        "adjust",
        30,
        "活动补发",
        "admin:admin",
    )
    assert Member.objects.get(pk=member.pk).points_balance == 30


def test_changing_the_levels_recomputes_members(admin_client, django_capture_on_commit_callbacks):
    # given: a member with 300 growth and no level yet
    member = MemberFactory(growth=300)
    # when: the merchant adds a level reached at 200
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_client.post(
            "/admin/members/memberlevel/add/",
            {
                "name": "白银会员",
                "growth_threshold": 200,
                "discount_bp": 9800,
                "points_multiplier_bp": 10000,
            },
        )
    # then
    assert answer.status_code == 302, answer.content
    member.refresh_from_db()
    assert member.level.name == "白银会员"
    assert LevelChangeLog.objects.filter(member=member).count() == 1


@pytest.mark.parametrize(
    "url",
    [
        "/admin/members/memberlevel/",
        "/admin/members/signinrule/",
        "/admin/members/taskcard/",
        "/admin/members/pointsledger/",
        "/admin/members/pointslot/",
        "/admin/members/growthlog/",
        "/admin/members/levelchangelog/",
        "/admin/members/signin/",
        "/admin/members/taskcompletion/",
    ],
)
def test_admin_pages_open(admin_client, url):
    assert admin_client.get(url).status_code == 200
