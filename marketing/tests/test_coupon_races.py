"""Races against PostgreSQL with real threads: a template's last units, a single-use code, and
one member claiming twice at once."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from mall.errors import CouponCodeUsed, CouponLimitReached, CouponSoldOut
from marketing.models import Coupon, CouponCode
from marketing.services.coupons import coupon_claim, coupon_code_redeem, coupon_codes_generate
from marketing.tests.coupon_factories import CouponTemplateFactory
from members.tests.factories import MemberFactory

THREADS = 50


def race(fn, args_list):
    """Run fn(args) in THREADS threads released together; returns the outcomes."""
    start = threading.Barrier(len(args_list))

    def run(args):
        start.wait()
        try:
            return fn(*args)
        except (CouponSoldOut, CouponCodeUsed, CouponLimitReached) as exc:
            return exc
        finally:
            connection.close()  # each thread opened its own connection

    with ThreadPoolExecutor(max_workers=len(args_list)) as pool:
        return list(pool.map(run, args_list))


@pytest.mark.django_db(transaction=True)
def test_fifty_members_claiming_the_last_ten():
    # given
    template = CouponTemplateFactory(total_quantity=10)
    members = MemberFactory.create_batch(THREADS)
    # when
    outcomes = race(
        lambda m: coupon_claim(member_id=m.pk, template_id=template.pk), [(m,) for m in members]
    )
    # then
    assert sum(isinstance(o, Coupon) for o in outcomes) == 10
    assert sum(isinstance(o, CouponSoldOut) for o in outcomes) == THREADS - 10
    template.refresh_from_db()
    assert (template.issued_count, Coupon.objects.count()) == (10, 10)


@pytest.mark.django_db(transaction=True)
def test_fifty_members_redeeming_one_single_use_code():
    template = CouponTemplateFactory()
    code = coupon_codes_generate(
        template_id=template.pk, name="一码", kind="single", quantity=1
    ).codes.get()
    members = MemberFactory.create_batch(THREADS)
    outcomes = race(
        lambda m: coupon_code_redeem(member_id=m.pk, code=code.code), [(m,) for m in members]
    )
    assert sum(isinstance(o, Coupon) for o in outcomes) == 1
    assert sum(isinstance(o, CouponCodeUsed) for o in outcomes) == THREADS - 1
    assert CouponCode.objects.get(pk=code.pk).used_count == 1
    assert Coupon.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_member_claiming_at_once_stays_within_the_limit():
    template = CouponTemplateFactory(per_member_limit=2)
    member = MemberFactory()
    outcomes = race(
        lambda _: coupon_claim(member_id=member.pk, template_id=template.pk),
        [(i,) for i in range(10)],
    )
    assert sum(isinstance(o, Coupon) for o in outcomes) == 2
    template.refresh_from_db()
    assert (template.issued_count, Coupon.objects.filter(member=member).count()) == (2, 2)
