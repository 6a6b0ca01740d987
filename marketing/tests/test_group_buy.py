"""拼团: pricing, opening and joining through order creation, one seat per member, the last
seat taken once under threads, seats released with unpaid orders, the shopper API."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from django.db import connection
from django.utils import timezone

from catalog.tests.factories import SkuFactory
from mall.errors import (
    DomainError,
    GroupAlreadyJoined,
    GroupFull,
    GroupUnavailable,
    PromotionUnavailable,
)
from marketing.models import Group, GroupBuyCampaign, GroupMember
from marketing.services.group_buy import (
    group_join,
    group_member_paid,
    group_seat_release_for_order,
    nickname_mask,
)
from members.models import Member
from members.tests.factories import MemberFactory
from orders.models import Order
from orders.pricing import CheckoutRequest, DeliveryChoice, LineInput, PromotionChoice
from orders.selectors import checkout_quote
from orders.services import order_cancel, order_close_if_unpaid, order_create
from orders.tests.factories import AddressFactory

pytestmark = pytest.mark.django_db


# --- helpers (the payments tests use them too) ---
def campaign_new(*, sku: Any = None, size: int = 3, **fields: Any) -> GroupBuyCampaign:
    now = timezone.now()
    return GroupBuyCampaign.objects.create(
        name=fields.pop("name", "三人团龙井"),
        sku=sku or SkuFactory(price_fen=1999, stock=100),
        group_price_fen=fields.pop("group_price_fen", 999),
        size=size,
        form_hours=fields.pop("form_hours", 24),
        starts_at=fields.pop("starts_at", now - timedelta(hours=1)),
        ends_at=fields.pop("ends_at", now + timedelta(days=7)),
        **fields,
    )


def group_checkout(*, member: Member, kind: str, target_id: int, sku_id: int, quantity: int = 1):
    address = AddressFactory(member=member)
    return CheckoutRequest(
        delivery=DeliveryChoice(address_id=address.pk),
        lines=(LineInput(sku_id=sku_id, quantity=quantity),),
        promotion=PromotionChoice(kind=kind, id=target_id),
    )


def group_order(
    member: Member, *, kind: str, target_id: int, sku_id: int, quantity: int = 1
) -> Order:
    """An order opening (kind "group_open", a campaign id) or joining ("group_join", a group
    id) a group, through the checkout service like the API."""
    checkout = group_checkout(
        member=member, kind=kind, target_id=target_id, sku_id=sku_id, quantity=quantity
    )
    _, quote = checkout_quote(member=member, checkout=checkout, now=timezone.now())
    order, _ = order_create(
        member=member,
        client_token=uuid4().hex,
        checkout=checkout,
        expected_payable_fen=quote.payable_fen,
    )
    return order


def open_group(member: Member, campaign: GroupBuyCampaign) -> tuple[Order, Group]:
    order = group_order(member, kind="group_open", target_id=campaign.pk, sku_id=campaign.sku_id)
    return order, Group.objects.get(members__order_id=order.pk)


def forming_group(campaign: GroupBuyCampaign) -> tuple[Order, Group]:
    """A group whose leader has paid (the payment's effect on the group, without WeChat)."""
    order, group = open_group(MemberFactory(), campaign)
    Order.objects.filter(pk=order.pk).update(status="paid", paid_at=timezone.now())
    group_member_paid(order_id=order.pk)
    group.refresh_from_db()
    return order, group


@pytest.fixture
def campaign(db) -> GroupBuyCampaign:
    return campaign_new()


# --- pricing ---
def test_group_price_is_a_named_discount_on_the_line(campaign):
    # given
    member = MemberFactory()
    checkout = group_checkout(
        member=member, kind="group_open", target_id=campaign.pk, sku_id=campaign.sku_id, quantity=2
    )
    # when
    _, quote = checkout_quote(member=member, checkout=checkout, now=timezone.now())
    # then
    assert quote.goods_fen == 2 * 1999
    assert [(d.source, d.name, d.amount_fen) for d in quote.discounts] == [
        ("group_buy", "拼团价", 2 * (1999 - 999))
    ]
    assert quote.discounts[0].ref == f"group_campaign:{campaign.pk}"
    assert quote.payable_fen == 2 * 999
    assert quote.lines[0].discount_parts == (("group_buy", 2000),)


@pytest.mark.parametrize(
    "change",
    [
        {"is_active": False},
        {"ends_at": timezone.now() - timedelta(minutes=1)},
        {
            "starts_at": timezone.now() + timedelta(hours=1),
            "ends_at": timezone.now() + timedelta(days=1),
        },
    ],
)
def test_a_campaign_not_running_cannot_be_opened(campaign, change):
    GroupBuyCampaign.objects.filter(pk=campaign.pk).update(**change)
    with pytest.raises(PromotionUnavailable):
        group_order(
            MemberFactory(), kind="group_open", target_id=campaign.pk, sku_id=campaign.sku_id
        )


def test_a_group_buy_is_one_line_of_the_campaign_sku(campaign):
    other = SkuFactory(price_fen=500, stock=10)
    with pytest.raises(PromotionUnavailable):
        group_order(MemberFactory(), kind="group_open", target_id=campaign.pk, sku_id=other.pk)


# --- opening and joining ---
def test_a_group_opens_pending_and_becomes_joinable_when_its_leader_pays(campaign):
    # given
    leader = MemberFactory()
    order, group = open_group(leader, campaign)
    assert (group.status, group.seats_taken, group.expires_at) == ("pending", 1, None)
    assert order.promotion_kind == "group_open"
    # then: nobody joins a group whose leader has not paid
    with pytest.raises(GroupUnavailable):
        group_order(MemberFactory(), kind="group_join", target_id=group.pk, sku_id=campaign.sku_id)
    # when
    before = timezone.now()
    outcome = group_member_paid(order_id=order.pk)
    # then
    group.refresh_from_db()
    assert (outcome.clock_started, outcome.must_refund) == (True, False)
    assert (group.status, group.seats_paid) == ("forming", 1)
    assert before + timedelta(hours=24) <= group.expires_at <= timezone.now() + timedelta(hours=24)
    joined = group_order(
        MemberFactory(), kind="group_join", target_id=group.pk, sku_id=campaign.sku_id
    )
    group.refresh_from_db()
    assert group.seats_taken == 2
    assert joined.breakdown["discounts"][0]["amount_fen"] == 1000
    assert group_member_paid(order_id=order.pk).clock_started is False  # a replay changes nothing


def test_a_member_cannot_join_a_group_twice(campaign):
    # given
    _, group = forming_group(campaign)
    member = MemberFactory()
    first = group_order(member, kind="group_join", target_id=group.pk, sku_id=campaign.sku_id)
    # when / then: the checkout check, and the constraint behind it
    with pytest.raises(GroupAlreadyJoined):
        group_order(member, kind="group_join", target_id=group.pk, sku_id=campaign.sku_id)
    with pytest.raises(GroupAlreadyJoined):
        group_join(
            group_id=group.pk,
            member_id=member.pk,
            order_id=first.pk + 1000,
            order_no="X",
            payable_fen=999,
            now=timezone.now(),
        )
    group.refresh_from_db()
    assert group.seats_taken == 2
    assert GroupMember.objects.filter(group=group, member=member).count() == 1


def test_the_leader_cannot_join_their_own_group(campaign):
    leader_order, group = forming_group(campaign)
    with pytest.raises(GroupAlreadyJoined):
        group_order(
            leader_order.member, kind="group_join", target_id=group.pk, sku_id=campaign.sku_id
        )


def test_a_full_group_and_an_expired_group_refuse_joiners():
    campaign = campaign_new(size=2)
    _, group = forming_group(campaign)
    group_order(MemberFactory(), kind="group_join", target_id=group.pk, sku_id=campaign.sku_id)
    with pytest.raises(GroupFull):
        group_order(MemberFactory(), kind="group_join", target_id=group.pk, sku_id=campaign.sku_id)
    _, late = forming_group(campaign)
    Group.objects.filter(pk=late.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(GroupUnavailable):
        group_order(MemberFactory(), kind="group_join", target_id=late.pk, sku_id=campaign.sku_id)


# --- unpaid seats ---
def test_an_unpaid_joiners_seat_is_released_when_the_order_expires(campaign):
    # given
    _, group = forming_group(campaign)
    joiner = MemberFactory()
    order = group_order(joiner, kind="group_join", target_id=group.pk, sku_id=campaign.sku_id)
    # when
    assert order_close_if_unpaid(order_id=order.pk, now=order.expires_at + timedelta(seconds=1))
    # then
    group.refresh_from_db()
    assert (group.seats_taken, group.status) == (1, "forming")
    assert GroupMember.objects.get(order_id=order.pk).status == "released"
    assert group_seat_release_for_order(order_id=order.pk) is False  # once
    # and the member may take a seat again
    again = group_order(joiner, kind="group_join", target_id=group.pk, sku_id=campaign.sku_id)
    assert GroupMember.objects.get(order_id=again.pk).status == "held"


def test_a_group_whose_leader_cancels_before_paying_fails(campaign):
    order, group = open_group(MemberFactory(), campaign)
    order_cancel(order_id=order.pk, actor="member:x")
    group.refresh_from_db()
    assert (group.status, group.seats_taken) == ("failed", 0)


def test_an_order_that_fails_to_take_a_seat_writes_nothing():
    campaign = campaign_new(size=2)
    _, group = forming_group(campaign)
    member = MemberFactory()
    checkout = group_checkout(
        member=member, kind="group_join", target_id=group.pk, sku_id=campaign.sku_id
    )
    _, quote = checkout_quote(member=member, checkout=checkout, now=timezone.now())
    # someone takes the last seat between the shopper's preview and the order
    group_order(MemberFactory(), kind="group_join", target_id=group.pk, sku_id=campaign.sku_id)
    with pytest.raises(GroupFull):
        order_create(
            member=member,
            client_token=uuid4().hex,
            checkout=checkout,
            expected_payable_fen=quote.payable_fen,
        )
    assert not Order.objects.filter(member=member).exists()


# --- the last seat under threads ---
@pytest.mark.django_db(transaction=True)
def test_the_last_seat_is_taken_once_when_members_race_for_it():
    # given: a group of 3 with its leader paid and one joiner: one seat left, 12 shoppers
    campaign = campaign_new(size=3, sku=SkuFactory(price_fen=1999, stock=100))
    _, group = forming_group(campaign)
    group_order(MemberFactory(), kind="group_join", target_id=group.pk, sku_id=campaign.sku_id)
    members = MemberFactory.create_batch(12)
    checkouts = {
        m.pk: group_checkout(
            member=m, kind="group_join", target_id=group.pk, sku_id=campaign.sku_id
        )
        for m in members
    }
    start = threading.Barrier(len(members))
    outcomes: list[str] = []

    def join(member: Member) -> None:
        start.wait()
        try:
            order_create(
                member=member,
                client_token=uuid4().hex,
                checkout=checkouts[member.pk],
                expected_payable_fen=999,
            )
            outcomes.append("joined")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=len(members)) as pool:
        list(pool.map(join, members))
    # then
    group.refresh_from_db()
    assert sorted(outcomes) == ["group_full"] * 11 + ["joined"]
    assert group.seats_taken == 3
    assert GroupMember.objects.filter(group=group).count() == 3
    assert Order.objects.filter(promotion_kind="group_join").count() == 2


# --- shopper API ---
def test_campaign_list_and_detail_with_groups_to_join(
    campaign, api_client, django_assert_max_num_queries
):
    # given: 10 running campaigns, one ended; 3 groups of the first (one pending, one full)
    for n in range(10):
        campaign_new(name=f"团{n}")
    campaign_new(
        name="已结束",
        starts_at=timezone.now() - timedelta(days=2),
        ends_at=timezone.now() - timedelta(days=1),
    )
    _, open_one = forming_group(campaign)
    _, other = forming_group(campaign)
    group_order(MemberFactory(), kind="group_join", target_id=other.pk, sku_id=campaign.sku_id)
    open_group(MemberFactory(), campaign)  # pending: not listed
    small = campaign_new(size=2)
    _, full = forming_group(small)
    group_order(MemberFactory(), kind="group_join", target_id=full.pk, sku_id=small.sku_id)
    # when
    with django_assert_max_num_queries(2):
        listing = api_client.get("/api/v1/group-buys?page_size=50")
    with django_assert_max_num_queries(3):
        detail = api_client.get(f"/api/v1/group-buys/{campaign.pk}")
    # then
    assert listing.status_code == 200
    assert listing.json()["count"] == 12
    assert "已结束" not in [c["name"] for c in listing.json()["results"]]
    body = detail.json()
    assert (body["price_fen"], body["group_price_fen"], body["size"]) == (1999, 999, 3)
    assert [g["id"] for g in body["groups"]] == [other.pk, open_one.pk]  # closest to full first
    assert [g["seats_left"] for g in body["groups"]] == [1, 2]
    assert api_client.get(f"/api/v1/group-buys/{small.pk}").json()["groups"] == []


def test_share_page_masks_members_and_counts_down(campaign, api_client):
    # given
    leader_order, group = forming_group(campaign)
    Member.objects.filter(pk=leader_order.member_id).update(
        nickname="张三丰", avatar_url="https://img.example.com/a.png"
    )
    # when
    body = api_client.get(f"/api/v1/groups/{group.pk}").json()
    # then
    assert (body["status"], body["seats_left"]) == ("forming", 2)
    assert 24 * 3600 - 60 < body["seconds_left"] <= 24 * 3600
    assert body["members"] == [
        {
            "nickname": "张**",
            "avatar_url": "https://img.example.com/a.png",
            "is_leader": True,
            "is_paid": True,
        }
    ]
    assert "order_no" not in str(body)
    assert body["campaign"]["id"] == campaign.pk


def test_a_pending_group_is_not_shown(campaign, api_client):
    _, group = open_group(MemberFactory(), campaign)
    assert api_client.get(f"/api/v1/groups/{group.pk}").status_code == 404
    assert api_client.get("/api/v1/groups/999999").status_code == 404


def test_my_groups_lists_only_mine(campaign, member_login, django_assert_max_num_queries):
    # given
    member_id, client = member_login("o-group-me")
    me = Member.objects.get(pk=member_id)
    groups = [forming_group(campaign_new())[1] for _ in range(10)]
    for group in groups:
        group_order(me, kind="group_join", target_id=group.pk, sku_id=group.campaign.sku_id)
    forming_group(campaign)  # someone else's
    # when
    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/me/groups")
    # then
    body = response.json()
    assert body["count"] == 10
    assert {row["group_id"] for row in body["results"]} == {g.pk for g in groups}
    assert {row["seat_status"] for row in body["results"]} == {"held"}
    assert all(row["group_status"] == "forming" for row in body["results"])


def test_open_and_join_through_the_checkout_api(campaign, member_login):
    # given
    _, client = member_login("o-group-api")
    body = {
        "lines": [{"sku_id": campaign.sku_id, "quantity": 1}],
        "address_id": None,
        "promotion": {"kind": "group_open", "id": campaign.pk},
    }
    member = Member.objects.get(openid="o-group-api")
    body["address_id"] = AddressFactory(member=member).pk
    # when
    preview = client.post("/api/v1/checkout/preview", body, format="json")
    # then
    assert preview.status_code == 200, preview.json()
    [discount] = preview.json()["discounts"]
    assert (discount["source"], discount["name"], discount["amount_fen"]) == (
        "group_buy",
        "拼团价",
        1000,
    )
    created = client.post(
        "/api/v1/orders",
        body | {"expected_payable_fen": preview.json()["payable_fen"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid4().hex,
    )
    assert created.status_code == 201, created.json()
    assert created.json()["group_status"] == "pending"
    # a group not open for joining is refused with its own code
    group = Group.objects.get(leader=member)
    join = body | {"promotion": {"kind": "group_join", "id": group.pk}}
    refused = client.post("/api/v1/checkout/preview", join, format="json")
    assert (refused.status_code, refused.json()["code"]) == (409, "group_unavailable")


def test_nickname_mask():
    assert [nickname_mask(n) for n in ("", "A", "张三", "张三丰", "Alexander")] == [
        "匿名用户",
        "A*",
        "张*",
        "张**",
        "A****",
    ]
