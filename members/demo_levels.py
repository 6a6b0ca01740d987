"""Demo levels, the sign-in rule and task cards; the demo shopper gets a week of sign-ins and
reaches 白银会员. Safe to run twice: everything is found by its name, code or key."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from .levels import member_growth_add
from .models import Member, MemberLevel, SignInRule
from .signin import signin_do
from .task_cards import task_cards_ensure

LEVELS = (
    # name, growth threshold, discount bp, points multiplier bp, free shipping
    ("普通会员", 0, 10_000, 10_000, False),
    ("白银会员", 500, 9800, 12_000, False),
    ("黄金会员", 2000, 9500, 15_000, True),
    ("钻石会员", 10000, 9000, 20_000, True),
)
DEMO_SHOPPER_OPENID = "demo-shopper-openid"


def seed_demo(stdout: Any) -> None:
    for name, threshold, discount, multiplier, free_shipping in LEVELS:
        MemberLevel.objects.get_or_create(
            growth_threshold=threshold,
            defaults={
                "name": name,
                "discount_bp": discount,
                "points_multiplier_bp": multiplier,
                "free_shipping": free_shipping,
            },
        )
    if not SignInRule.objects.exists():
        SignInRule.objects.create()
    tasks = task_cards_ensure()
    shopper = Member.objects.filter(openid=DEMO_SHOPPER_OPENID).first()
    if shopper is not None:
        member_growth_add(member_id=shopper.pk, amount_fen=66600, reference="demo:growth")
        now = timezone.now()
        for days_ago in range(6, 0, -1):  # six days in a row: signing in today makes 7 (+bonus)
            day = now - timedelta(days=days_ago)
            if not shopper.sign_ins.filter(date=timezone.localdate(day)).exists():
                signin_do(member_id=shopper.pk, now=day)
    stdout.write(f"members: {len(LEVELS)} levels, sign-in rule, {tasks} new task cards")
