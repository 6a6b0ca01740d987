"""Factories of the coupon tests: explicit amounts, e.g. CouponTemplateFactory(amount_fen=3000)."""

from datetime import timedelta

import factory
from django.utils import timezone

from marketing.models import CouponTemplate


class CouponTemplateFactory(factory.django.DjangoModelFactory):
    """满100减30, valid from an hour ago for 30 days, 1 per member, unlimited quantity."""

    class Meta:
        model = CouponTemplate

    name = factory.Sequence(lambda n: f"满100减30-{n}")
    kind = CouponTemplate.Kind.FULL_REDUCTION
    threshold_fen = 10000
    amount_fen = 3000
    validity = CouponTemplate.Validity.FIXED
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))
    is_claimable = True
