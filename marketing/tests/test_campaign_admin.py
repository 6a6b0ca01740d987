"""营销活动 admin: the changelist with status and figures, the end-early action, and the demo."""

from datetime import timedelta
from io import StringIO

import pytest
from django.utils import timezone

from marketing.demo_campaigns import seed_demo
from marketing.models import Campaign, CampaignUsage
from marketing.services.campaigns import (
    TierInput,
    UsageInput,
    campaign_create,
    campaign_usages_mark_paid,
    campaign_usages_mark_refunded,
    campaign_usages_record,
    campaigns_snapshot,
)
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def manjian(name="满300减50", **fields):
    now = timezone.now()
    return campaign_create(
        name=name,
        kind=Campaign.Kind.FULL_REDUCTION,
        starts_at=fields.pop("starts_at", now - timedelta(hours=1)),
        ends_at=fields.pop("ends_at", now + timedelta(hours=1)),
        tiers=[TierInput(30000, reduce_fen=5000)],
        **fields,
    )


def test_changelist_shows_status_and_paid_figures(admin_client, django_assert_max_num_queries):
    # given: a running campaign with one paid and one refunded order, and ten others
    running = manjian()
    member = MemberFactory()
    for order_id in (1, 2):
        campaign_usages_record(
            member_id=member.pk,
            order_id=order_id,
            order_no=f"N{order_id}",
            usages=[UsageInput(running.pk, 5000, 30000, {}, {})],
        )
        campaign_usages_mark_paid(order_id=order_id)
    campaign_usages_mark_refunded(order_id=2)
    tomorrow = timezone.now() + timedelta(days=1)
    manjian("明天开始", starts_at=tomorrow, ends_at=tomorrow + timedelta(days=1))
    for n in range(10):
        manjian(f"活动{n}")
    # when
    with django_assert_max_num_queries(8):
        response = admin_client.get("/admin/marketing/campaign/")
    # then
    assert response.status_code == 200
    rows = {r.name: r for r in response.context["cl"].result_list}
    row = rows["满300减50"]
    assert (row.orders_total, row.gmv_total, row.discount_total) == (1, 30000, 5000)
    html = response.content.decode()
    assert "进行中" in html
    assert "未开始" in html
    assert CampaignUsage.objects.filter(status="refunded").count() == 1


def test_end_early_action_takes_it_out_of_pricing(admin_client):
    campaign = manjian()
    assert [c.id for c in campaigns_snapshot(now=timezone.now())] == [campaign.pk]
    response = admin_client.post(
        "/admin/marketing/campaign/",
        {"action": "end_now", "_selected_action": [campaign.pk]},
        follow=True,
    )
    assert response.status_code == 200
    campaign.refresh_from_db()
    assert campaign.ended_early_at is not None
    assert campaigns_snapshot(now=timezone.now()) == ()
    assert "已结束" in admin_client.get("/admin/marketing/campaign/").content.decode()


def test_add_and_change_pages_render(admin_client):
    campaign = manjian()
    assert admin_client.get("/admin/marketing/campaign/add/").status_code == 200
    assert admin_client.get(f"/admin/marketing/campaign/{campaign.pk}/change/").status_code == 200
    assert admin_client.get("/admin/marketing/campaignusage/").status_code == 200


def test_demo_is_safe_to_run_twice():
    from catalog.tests.factories import SkuFactory

    SkuFactory.create_batch(6, price_fen=3000)
    seed_demo(StringIO())
    count = Campaign.objects.count()
    seed_demo(StringIO())
    assert count == Campaign.objects.count() == 5


def _add_form(**fields):
    now = timezone.localtime()
    data = {
        "name": "后台满减",
        "description": "",
        "kind": "full_reduction",
        "is_active": "on",
        "priority": "0",
        "starts_at_0": (now - timedelta(hours=1)).strftime("%Y-%m-%d"),
        "starts_at_1": (now - timedelta(hours=1)).strftime("%H:%M:%S"),
        "ends_at_0": (now + timedelta(days=1)).strftime("%Y-%m-%d"),
        "ends_at_1": (now + timedelta(days=1)).strftime("%H:%M:%S"),
        "scope": "all",
        "member_level_ids": "[]",
        "stack_group": "",
        "combinable_kinds": "[]",
        "stackable_with_coupons": "on",
        "threshold_type": "amount",
        "bundle_quantity": "0",
        "bundle_price_fen": "0",
        "buy_quantity": "0",
        "gift_quantity": "0",
        "tiers-TOTAL_FORMS": "1",
        "tiers-INITIAL_FORMS": "0",
        "tiers-0-threshold": "30000",
        "tiers-0-reduce_fen": "5000",
        "tiers-0-rate_bp": "10000",
        "items-TOTAL_FORMS": "0",
        "items-INITIAL_FORMS": "0",
    }
    return data | fields


def test_admin_add_fills_default_stacking_and_switches_off_a_campaign_that_does_not_add_up(
    admin_client,
):
    # when: a 满减 with a tier
    response = admin_client.post("/admin/marketing/campaign/add/", _add_form())
    # then
    assert response.status_code == 302, response.content.decode()[:2000]
    campaign = Campaign.objects.get(name="后台满减")
    assert campaign.is_active
    assert campaign.combinable_kinds == ["buy_gift", "limited_time"]
    assert [c.id for c in campaigns_snapshot(now=timezone.now())] == [campaign.pk]
    # when: one without tiers
    response = admin_client.post(
        "/admin/marketing/campaign/add/",
        _add_form(name="没有档位", **{"tiers-TOTAL_FORMS": "0"}),
        follow=True,
    )
    # then
    assert "活动设置有误，已停用" in response.content.decode()
    assert not Campaign.objects.get(name="没有档位").is_active


def test_a_change_in_another_process_shows_here_within_the_local_copy_time(monkeypatch):
    from django.core.cache import cache

    from marketing.services import campaigns

    campaign = manjian()
    clock = [1000.0]
    monkeypatch.setattr(campaigns.time, "monotonic", lambda: clock[0])
    assert [c.id for c in campaigns_snapshot(now=timezone.now())] == [campaign.pk]
    # when: another process ends it (its service clears the shared cache, not our copy)
    Campaign.objects.filter(pk=campaign.pk).update(ended_early_at=timezone.now())
    cache.delete(campaigns.SNAPSHOT_CACHE_KEY)
    # then: this process answers its copy for LOCAL_COPY_SECONDS, then reads again
    clock[0] += campaigns.LOCAL_COPY_SECONDS / 2
    assert [c.id for c in campaigns_snapshot(now=timezone.now())] == [campaign.pk]
    clock[0] += campaigns.LOCAL_COPY_SECONDS
    assert campaigns_snapshot(now=timezone.now()) == ()
