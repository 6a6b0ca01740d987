"""Coupon services: claiming under quantity and per-member limits, validity windows, merchant
and tag issues, redeem codes, grant on spend, the checkout loaders, and the order hooks."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.tests.factories import SkuFactory
from mall.errors import (
    CouponCodeInvalid,
    CouponCodeUsed,
    CouponExpired,
    CouponLimitReached,
    CouponNotFound,
    CouponNotStarted,
    CouponSoldOut,
    CouponUnavailable,
)
from marketing.models import Coupon, CouponCode, CouponCodeBatch, CouponSpendRule, CouponTemplate
from marketing.services.coupons import (
    coupon_claim,
    coupon_code_redeem,
    coupon_codes_generate,
    coupon_data_for_member,
    coupon_issue,
    coupon_lock_for_order,
    coupon_mark_used_for_order,
    coupon_release_for_order,
    coupon_return_for_refunded_order,
    coupons_grant_on_spend,
    coupons_issue,
    coupons_issue_to_tag,
    coupons_spend_grants_revoke,
    coupons_usable_load,
)
from marketing.tests.coupon_factories import CouponTemplateFactory
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    return MemberFactory()


def test_claim_issues_a_coupon_with_the_fixed_window(member):
    # given
    template = CouponTemplateFactory(total_quantity=5)
    # when
    coupon = coupon_claim(member_id=member.pk, template_id=template.pk)
    # then
    assert (coupon.status, coupon.source, coupon.member_slot) == (Coupon.Status.UNUSED, "claim", 1)
    assert (coupon.valid_from, coupon.valid_until) == (template.starts_at, template.ends_at)
    template.refresh_from_db()
    assert template.issued_count == 1


def test_relative_validity_counts_days_from_receipt(member):
    template = CouponTemplateFactory(
        validity=CouponTemplate.Validity.RELATIVE, starts_at=None, ends_at=None, valid_days=7
    )
    now = timezone.now()
    coupon = coupon_claim(member_id=member.pk, template_id=template.pk, now=now)
    assert (coupon.valid_from, coupon.valid_until) == (now, now + timedelta(days=7))


def test_per_member_limit(member):
    template = CouponTemplateFactory(per_member_limit=2)
    coupon_claim(member_id=member.pk, template_id=template.pk)
    coupon_claim(member_id=member.pk, template_id=template.pk)
    with pytest.raises(CouponLimitReached):
        coupon_claim(member_id=member.pk, template_id=template.pk)
    # merchant-issued coupons do not count towards the limit
    coupons_issue(template_id=template.pk, member_ids=[member.pk])
    assert Coupon.objects.filter(member=member).count() == 3
    template.refresh_from_db()
    assert template.issued_count == 3


def test_sold_out_and_over_and_hidden_templates(member):
    sold_out = CouponTemplateFactory(total_quantity=1)
    coupon_claim(member_id=MemberFactory().pk, template_id=sold_out.pk)
    with pytest.raises(CouponSoldOut):
        coupon_claim(member_id=member.pk, template_id=sold_out.pk)
    over = CouponTemplateFactory(ends_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(CouponExpired):
        coupon_claim(member_id=member.pk, template_id=over.pk)
    hidden = CouponTemplateFactory(is_claimable=False)
    with pytest.raises(CouponNotFound):
        coupon_claim(member_id=member.pk, template_id=hidden.pk)
    inactive = CouponTemplateFactory(is_active=False)
    with pytest.raises(CouponNotFound):
        coupon_claim(member_id=member.pk, template_id=inactive.pk)
    assert not Coupon.objects.filter(member=member).exists()


def test_merchant_issue_is_all_or_nothing_within_the_quantity():
    template = CouponTemplateFactory(total_quantity=2)
    members = MemberFactory.create_batch(3)
    with pytest.raises(CouponSoldOut):
        coupons_issue(template_id=template.pk, member_ids=[m.pk for m in members])
    assert not Coupon.objects.exists()
    issued = coupons_issue(template_id=template.pk, member_ids=[m.pk for m in members[:2]] + [0])
    assert {c.member_id for c in issued} == {members[0].pk, members[1].pk}
    assert all(c.source == "merchant" for c in issued)


def test_issue_with_a_source_ref_is_idempotent(member):
    template = CouponTemplateFactory()
    first = coupon_issue(
        template_id=template.pk, member_id=member.pk, source="journey", source_ref="winback:1"
    )
    again = coupon_issue(
        template_id=template.pk, member_id=member.pk, source="journey", source_ref="winback:1"
    )
    assert first.pk == again.pk
    template.refresh_from_db()
    assert template.issued_count == 1


def test_issue_to_a_tag():
    from members.models import MemberTag, Tag

    tag = Tag.objects.create(name="老客")
    tagged = MemberFactory.create_batch(3)
    MemberFactory()  # not tagged
    for m in tagged:
        MemberTag.objects.create(member=m, tag=tag, source="manual")
    template = CouponTemplateFactory()
    assert coupons_issue_to_tag(template_id=template.pk, tag_id=tag.pk) == 3
    assert set(Coupon.objects.values_list("member_id", flat=True)) == {m.pk for m in tagged}


def test_single_use_codes(member):
    template = CouponTemplateFactory()
    batch = coupon_codes_generate(template_id=template.pk, name="门店", kind="single", quantity=25)
    codes = list(batch.codes.values_list("code", flat=True))
    assert len(set(codes)) == 25
    coupon = coupon_code_redeem(member_id=member.pk, code=codes[0].lower())
    assert (coupon.source, coupon.source_ref) == ("code", f"code:{batch.codes.first().pk}")
    with pytest.raises(CouponCodeUsed):
        coupon_code_redeem(member_id=MemberFactory().pk, code=codes[0])
    with pytest.raises(CouponCodeInvalid):
        coupon_code_redeem(member_id=member.pk, code="NOPE")


def test_shared_code_once_per_member_up_to_its_limit():
    template = CouponTemplateFactory(per_member_limit=5)
    coupon_codes_generate(
        template_id=template.pk, name="直播", kind="shared", quantity=2, code="live 2026"
    )
    first = MemberFactory()
    coupon_code_redeem(member_id=first.pk, code="LIVE2026")
    with pytest.raises(CouponCodeUsed):
        coupon_code_redeem(member_id=first.pk, code="live2026")  # once per member
    coupon_code_redeem(member_id=MemberFactory().pk, code="LIVE2026")
    with pytest.raises(CouponCodeUsed):
        coupon_code_redeem(member_id=MemberFactory().pk, code="LIVE2026")  # limit 2 reached
    assert CouponCode.objects.get(code="LIVE2026").used_count == 2


def test_a_code_of_a_sold_out_template_is_not_used_up(member):
    template = CouponTemplateFactory(total_quantity=0)
    batch = coupon_codes_generate(template_id=template.pk, name="x", kind="single", quantity=1)
    code = batch.codes.get()
    with pytest.raises(CouponSoldOut):
        coupon_code_redeem(member_id=member.pk, code=code.code)
    code.refresh_from_db()
    assert code.used_count == 0
    assert CouponCodeBatch.objects.count() == 1


def test_grant_on_spend_once_per_order_and_template(member):
    small, big = CouponTemplateFactory(), CouponTemplateFactory(total_quantity=0)
    rule = CouponSpendRule.objects.create(name="满100送券", min_paid_fen=10000)
    rule.templates.set([small, big])  # big is sold out: skipped, never failing the payment
    CouponSpendRule.objects.create(name="满1000", min_paid_fen=100000).templates.set([small])
    assert coupons_grant_on_spend(order_id=7, member_id=member.pk, paid_fen=9999) == 0
    assert coupons_grant_on_spend(order_id=8, member_id=member.pk, paid_fen=200000) == 1
    assert coupons_grant_on_spend(order_id=8, member_id=member.pk, paid_fen=200000) == 0
    assert list(Coupon.objects.values_list("template_id", "source", "source_ref")) == [
        (small.pk, "spend", "order:8")
    ]


def test_a_refund_revokes_unused_spend_coupons_and_leaves_spent_ones(member):
    # given: two templates granted for order 7, one of them used since; another order's grant
    CouponSpendRule.objects.create(name="满100送券", min_paid_fen=10000).templates.set(
        [CouponTemplateFactory(), CouponTemplateFactory()]
    )
    assert coupons_grant_on_spend(order_id=7, member_id=member.pk, paid_fen=10000) == 2
    assert coupons_grant_on_spend(order_id=8, member_id=member.pk, paid_fen=10000) == 2
    spent = Coupon.objects.filter(source_ref="order:7").order_by("pk").first()
    Coupon.objects.filter(pk=spent.pk).update(status=Coupon.Status.USED)
    # when: order 7 is refunded in full, twice (a replayed settlement)
    first = coupons_spend_grants_revoke(order_id=7, member_id=member.pk)
    again = coupons_spend_grants_revoke(order_id=7, member_id=member.pk)
    # then
    assert (first, again) == (1, 0)
    assert sorted(Coupon.objects.filter(member=member).values_list("source_ref", "status")) == [
        ("order:7", "revoked"),
        ("order:7", "used"),
        ("order:8", "unused"),
        ("order:8", "unused"),
    ]
    revoked = Coupon.objects.get(status=Coupon.Status.REVOKED)
    with pytest.raises(CouponUnavailable, match="作废"):
        coupon_data_for_member(member_id=member.pk, coupon_id=revoked.pk, now=timezone.now())


def test_usable_load_is_one_query_and_one_for_the_templates(member, django_assert_num_queries):
    now = timezone.now()
    with django_assert_num_queries(1):  # most members at a checkout: no coupon
        assert coupons_usable_load(member_id=member.pk, now=now) == []
    template = CouponTemplateFactory(kind="discount", rate_bp=8500, cap_fen=2000)
    for _ in range(3):
        coupons_issue(template_id=template.pk, member_ids=[member.pk])
    later = CouponTemplateFactory(starts_at=now + timedelta(days=1))
    coupons_issue(template_id=later.pk, member_ids=[member.pk])
    with django_assert_num_queries(2):
        loaded = coupons_usable_load(member_id=member.pk, now=now)
    assert [(c.kind, c.rate_bp, c.cap_fen) for c in loaded] == [("discount", 8500, 2000)] * 3


def test_coupon_data_for_member_says_why_not(member):
    now = timezone.now()
    template = CouponTemplateFactory()
    (coupon,) = coupons_issue(template_id=template.pk, member_ids=[member.pk])
    assert coupon_data_for_member(member_id=member.pk, coupon_id=coupon.pk, now=now).id == coupon.pk
    with pytest.raises(CouponUnavailable):
        coupon_data_for_member(member_id=MemberFactory().pk, coupon_id=coupon.pk, now=now)
    with pytest.raises(CouponExpired):
        coupon_data_for_member(
            member_id=member.pk, coupon_id=coupon.pk, now=now + timedelta(days=31)
        )
    with pytest.raises(CouponNotStarted):
        coupon_data_for_member(
            member_id=member.pk, coupon_id=coupon.pk, now=now - timedelta(hours=2)
        )
    coupon_lock_for_order(coupon_id=coupon.pk, member_id=member.pk, order_id=1, now=now)
    with pytest.raises(CouponUnavailable):
        coupon_data_for_member(member_id=member.pk, coupon_id=coupon.pk, now=now)


def test_lock_use_release_and_return(member):
    now = timezone.now()
    template = CouponTemplateFactory()
    (coupon,) = coupons_issue(template_id=template.pk, member_ids=[member.pk])
    # locked by order 1; a second order cannot take it
    coupon_lock_for_order(coupon_id=coupon.pk, member_id=member.pk, order_id=1, now=now)
    coupon_lock_for_order(coupon_id=coupon.pk, member_id=member.pk, order_id=1, now=now)  # repeat
    with pytest.raises(CouponUnavailable):
        coupon_lock_for_order(coupon_id=coupon.pk, member_id=member.pk, order_id=2, now=now)
    # order 1 cancelled: back to unused
    assert coupon_release_for_order(order_id=1, now=now) == 1
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_id) == (Coupon.Status.UNUSED, None)
    # order 2 takes it and is paid: used once, however often the hook runs
    coupon_lock_for_order(coupon_id=coupon.pk, member_id=member.pk, order_id=2, now=now)
    assert coupon_mark_used_for_order(order_id=2) == 1
    assert coupon_mark_used_for_order(order_id=2) == 0
    coupon.refresh_from_db()
    template.refresh_from_db()
    assert (coupon.status, coupon.order_id, template.used_count) == (Coupon.Status.USED, 2, 1)
    # refunded in full: returned while valid, no longer counted as used
    assert coupon_return_for_refunded_order(order_id=2, now=now) == 1
    assert coupon_return_for_refunded_order(order_id=2, now=now) == 0
    coupon.refresh_from_db()
    template.refresh_from_db()
    assert (coupon.status, coupon.order_id, template.used_count) == (Coupon.Status.UNUSED, None, 0)


def test_release_after_the_coupon_expired_marks_it_expired(member):
    now = timezone.now()
    template = CouponTemplateFactory(ends_at=now + timedelta(minutes=5))
    (coupon,) = coupons_issue(template_id=template.pk, member_ids=[member.pk])
    coupon_lock_for_order(coupon_id=coupon.pk, member_id=member.pk, order_id=3, now=now)
    coupon_release_for_order(order_id=3, now=now + timedelta(minutes=30))
    coupon.refresh_from_db()
    assert coupon.status == Coupon.Status.EXPIRED


def test_exchange_template_data(member):
    sku = SkuFactory(price_fen=1500)
    template = CouponTemplateFactory(kind="exchange", sku=sku, threshold_fen=0, amount_fen=0)
    (coupon,) = coupons_issue(template_id=template.pk, member_ids=[member.pk])
    data = coupon_data_for_member(member_id=member.pk, coupon_id=coupon.pk, now=timezone.now())
    assert (data.kind, data.sku_id, data.ref) == ("exchange", sku.pk, f"coupon:{coupon.pk}")


def test_demo_seed_runs_twice():
    import io

    from marketing.demo_coupons import seed_demo

    MemberFactory(openid="demo-shopper-openid")
    seed_demo(io.StringIO())
    seed_demo(io.StringIO())
    assert CouponTemplate.objects.filter(name="满100减30").count() == 1
    assert CouponCode.objects.get(code="WELCOME2026").max_uses == 500
    assert Coupon.objects.filter(member__openid="demo-shopper-openid").count() == 2
