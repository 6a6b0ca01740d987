"""The coupon admin: template form (scope ids), counts and stats in the list, issuing to
members or a tag, code batches and their export, issued coupons read-only."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.tests.factories import CategoryFactory
from marketing.models import Coupon, CouponCode, CouponTemplate
from marketing.services.coupons import (
    coupon_lock_for_order,
    coupon_mark_used_for_order,
    coupons_issue,
)
from marketing.tests.coupon_factories import CouponTemplateFactory
from members.models import MemberTag, Tag
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_create_a_template_with_scope_ids(admin_client):
    category = CategoryFactory()
    now = timezone.now()
    response = admin_client.post(
        "/admin/marketing/coupontemplate/add/",
        {
            "name": "绿茶85折",
            "kind": "discount",
            "is_active": "on",
            "threshold_fen": "0",
            "amount_fen": "0",
            "rate_bp": "8500",
            "cap_fen": "2000",
            "scope": "categories",
            "categories": [category.pk],
            "excluded_text": "7, 8",
            "validity": "fixed",
            "starts_at_0": now.strftime("%Y-%m-%d"),
            "starts_at_1": "00:00:00",
            "ends_at_0": (now + timedelta(days=10)).strftime("%Y-%m-%d"),
            "ends_at_1": "00:00:00",
            "valid_days": "0",
            "per_member_limit": "1",
            "stackable_with_campaigns": "on",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    template = CouponTemplate.objects.get(name="绿茶85折")
    assert (template.category_ids, template.excluded_product_ids) == ([category.pk], [7, 8])
    # and the change form shows them back
    page = admin_client.get(f"/admin/marketing/coupontemplate/{template.pk}/change/")
    assert page.status_code == 200
    assert page.context["adminform"].form["excluded_text"].value() == "7,8"


def test_template_list_shows_counts_and_stats(admin_client, django_assert_max_num_queries):
    template = CouponTemplateFactory()
    member = MemberFactory()
    (coupon,) = coupons_issue(template_id=template.pk, member_ids=[member.pk])
    coupon_lock_for_order(coupon_id=coupon.pk, member_id=member.pk, order_id=1, now=timezone.now())
    coupon_mark_used_for_order(order_id=1)  # an order id with no order: counted, no GMV
    for _ in range(10):
        CouponTemplateFactory()
    with django_assert_max_num_queries(12):
        response = admin_client.get("/admin/marketing/coupontemplate/")
    assert response.status_code == 200
    assert "满100.00减30.00" in response.content.decode()


def test_issue_to_members_and_to_a_tag(admin_client):
    template = CouponTemplateFactory()
    members = MemberFactory.create_batch(3)
    url = f"/admin/marketing/coupontemplate/{template.pk}/issue/"
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"member_ids": f"{members[0].pk}, {members[1].pk}"})
    assert response.status_code == 302
    tag = Tag.objects.create(name="VIP")
    MemberTag.objects.create(member=members[2], tag=tag, source="manual")
    assert admin_client.post(url, {"tag": tag.pk}).status_code == 302
    assert Coupon.objects.filter(template=template, source="merchant").count() == 3
    # neither or both: the form says so
    assert admin_client.post(url, {}).status_code == 200


def test_code_batch_generate_and_export(admin_client):
    template = CouponTemplateFactory()
    response = admin_client.post(
        "/admin/marketing/couponcodebatch/add/",
        {"template": template.pk, "name": "门店一", "kind": "single", "quantity": "30"},
    )
    assert response.status_code == 302
    assert CouponCode.objects.filter(template=template).count() == 30
    response = admin_client.post(
        "/admin/marketing/couponcodebatch/add/",
        {
            "template": template.pk,
            "name": "直播",
            "kind": "shared",
            "quantity": "100",
            "shared_code": "live888",
        },
    )
    assert response.status_code == 302
    assert CouponCode.objects.get(code="LIVE888").max_uses == 100
    export = admin_client.post(
        "/admin/marketing/couponcodebatch/",
        {
            "action": "export_codes",
            "_selected_action": list(template.code_batches.values_list("pk", flat=True)),
        },
    )
    rows = export.content.decode("utf-8-sig").strip().splitlines()
    assert len(rows) == 1 + 31


def test_coupons_are_read_only(admin_client):
    template = CouponTemplateFactory()
    (coupon,) = coupons_issue(template_id=template.pk, member_ids=[MemberFactory().pk])
    assert admin_client.get("/admin/marketing/coupon/?status=unused").status_code == 200
    assert admin_client.get("/admin/marketing/coupon/add/").status_code == 403
    page = admin_client.get(f"/admin/marketing/coupon/{coupon.pk}/change/")
    assert page.status_code == 200
    assert b'name="status"' not in page.content
