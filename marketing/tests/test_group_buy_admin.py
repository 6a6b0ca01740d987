"""拼团 in the admin: campaigns with group counts and GMV, groups with members, ending early, the
order desk's group status; and the demo seeder."""

from io import StringIO

import pytest
from django.utils import timezone

from marketing.demo_group_buy import seed_demo
from marketing.models import Group, GroupBuyCampaign
from marketing.services.group_buy import group_expire, group_member_paid
from marketing.tests.test_group_buy import campaign_new, forming_group, group_order
from members.tests.factories import MemberFactory
from orders.models import Order

pytestmark = pytest.mark.django_db


def _formed_and_failed(campaign):
    """One formed group (2 × 999 paid) and one failed group."""
    _, formed = forming_group(campaign)
    joiner = group_order(
        MemberFactory(), kind="group_join", target_id=formed.pk, sku_id=campaign.sku_id
    )
    Order.objects.filter(pk=joiner.pk).update(status="paid", paid_at=timezone.now())
    group_member_paid(order_id=joiner.pk)
    _, failed = forming_group(campaign)
    group_expire(group_id=failed.pk, now=failed.expires_at)
    return formed, failed


def test_campaign_changelist_counts_groups_and_gmv(admin_client, django_assert_max_num_queries):
    # given
    campaign = campaign_new(size=2, name="二人团")
    formed, failed = _formed_and_failed(campaign)
    for n in range(10):
        campaign_new(name=f"团{n}")
    # when
    with django_assert_max_num_queries(8):
        response = admin_client.get("/admin/marketing/groupbuycampaign/")
    # then
    assert response.status_code == 200
    row = next(r for r in response.context["cl"].result_list if r.pk == campaign.pk)
    assert (row.formed_total, row.failed_total, row.forming_total, row.gmv_total) == (1, 1, 0, 1998)
    assert formed.pk != failed.pk


def test_groups_list_and_detail_show_status_and_members(admin_client):
    campaign = campaign_new(size=2)
    formed, _ = _formed_and_failed(campaign)
    listing = admin_client.get("/admin/marketing/group/", {"status__exact": "formed"})
    assert listing.status_code == 200
    assert [g.pk for g in listing.context["cl"].result_list] == [formed.pk]
    detail = admin_client.get(f"/admin/marketing/group/{formed.pk}/change/")
    assert detail.status_code == 200
    assert "已成团" in detail.content.decode()
    assert admin_client.get("/admin/marketing/group/add/").status_code == 403


def test_end_a_campaign_early(admin_client):
    campaign = campaign_new()
    response = admin_client.post(
        "/admin/marketing/groupbuycampaign/",
        {"action": "end_now", "_selected_action": [campaign.pk]},
        follow=True,
    )
    assert response.status_code == 200
    campaign.refresh_from_db()
    assert campaign.is_active is False


def test_order_desk_shows_the_group_status(admin_client):
    campaign = campaign_new()
    order, group = forming_group(campaign)
    response = admin_client.get(f"/admin/orders/order/{order.pk}/change/")
    assert response.status_code == 200
    assert "拼团中（成团后才能发货）" in response.content.decode()
    assert group.status == "forming"


def test_demo_seeder_runs_twice(db):
    from catalog.tests.factories import SkuFactory

    SkuFactory.create_batch(2, price_fen=2999, stock=50)
    seed_demo(StringIO())
    seed_demo(StringIO())
    assert GroupBuyCampaign.objects.count() == 2
    assert not Group.objects.exists()
