"""Demo coupons: a few templates of each kind in the claim centre, the shared code WELCOME2026,
a spend rule (实付满200返5元券), and some coupons in the demo shopper's wallet. Safe to run
twice: templates are found by name, the code and the rule by theirs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from catalog.models import Category, Sku
from members.models import Member

from .models import Coupon, CouponCode, CouponSpendRule, CouponTemplate
from .services.coupons import coupon_codes_generate, coupons_issue

DEMO_SHOPPER_OPENID = "demo-shopper-openid"
WELCOME_CODE = "WELCOME2026"


def _template(name: str, seeded: list[bool], **fields: Any) -> CouponTemplate:
    template, created = CouponTemplate.objects.get_or_create(name=name, defaults=fields)
    seeded.append(created)
    return template


@transaction.atomic
def seed_demo(stdout: Any) -> None:
    now = timezone.now()
    seeded: list[bool] = []  # one entry per demo template: created now or found
    fixed = {
        "validity": CouponTemplate.Validity.FIXED,
        "starts_at": now,
        "ends_at": now + timedelta(days=60),
    }
    newcomer = _template(
        "新人无门槛5元券",
        seeded,
        kind=CouponTemplate.Kind.CASH,
        amount_fen=500,
        validity=CouponTemplate.Validity.RELATIVE,
        valid_days=30,
        is_claimable=True,
        description="无门槛，领取后30天内有效",
    )
    full = _template(
        "满100减30",
        seeded,
        kind=CouponTemplate.Kind.FULL_REDUCTION,
        threshold_fen=10000,
        amount_fen=3000,
        total_quantity=1000,
        per_member_limit=2,
        is_claimable=True,
        **fixed,
    )
    tea = Category.objects.filter(name="茶叶", parent=None).first()
    _template(
        "茶叶85折券",
        seeded,
        kind=CouponTemplate.Kind.DISCOUNT,
        rate_bp=8500,
        cap_fen=5000,
        scope=CouponTemplate.Scope.CATEGORIES if tea else CouponTemplate.Scope.ALL,
        category_ids=[tea.pk] if tea else [],
        is_claimable=True,
        stackable_with_campaigns=False,
        description="最多优惠50元，不与满减活动同享",
        **fixed,
    )
    shipping = _template(
        "运费券",
        seeded,
        kind=CouponTemplate.Kind.SHIPPING,
        amount_fen=1000,
        validity=CouponTemplate.Validity.RELATIVE,
        valid_days=15,
        is_claimable=True,
    )
    sku = Sku.objects.filter(is_active=True, product__is_on_shelf=True).order_by("id").first()
    if sku is not None:
        _template("新品兑换券", seeded, kind=CouponTemplate.Kind.EXCHANGE, sku=sku, **fixed)
    if not CouponCode.objects.filter(code=WELCOME_CODE).exists():
        coupon_codes_generate(
            template_id=full.pk, name="欢迎码", kind="shared", quantity=500, code=WELCOME_CODE
        )
    rule, created = CouponSpendRule.objects.get_or_create(
        name="实付满200返5元券", defaults={"min_paid_fen": 20000}
    )
    if created:
        rule.templates.set([newcomer])
    shopper = Member.objects.filter(openid=DEMO_SHOPPER_OPENID).first()
    if shopper is not None:
        for template in (newcomer, shipping):
            coupons_issue(
                template_id=template.pk,
                member_ids=[shopper.pk],
                source=Coupon.Source.MERCHANT,
                source_ref="demo",
            )
    # Only this seeder's templates: other areas' demos (journeys, points mall) add their own.
    stdout.write(
        f"优惠券：模板 {len(seeded)} 个（新增 {sum(seeded)} 个），兑换码 {WELCOME_CODE}，"
        "消费返券规则 1 条"
    )
