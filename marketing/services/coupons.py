"""Coupons: issuing (claim centre, merchant, redeem codes, grant on spend), the wallet, and the
coupon's part in an order's life (locked by the unpaid order, used on payment, given back on
cancel, expiry or a full refund).

Every counter moves with a conditional UPDATE: a template's `issued_count` (never above
`total_quantity`), a code's `used_count` (never above `max_uses`). The per-member limit holds
through a unique numbered slot per (template, member), so concurrent claims by one member cannot
both pass. orders and payments call the order hooks by name (imports point down):
`coupon_lock_for_order` (the PromotionProvider's commit), `coupon_mark_used_for_order` and
`coupons_grant_on_spend` (payments' `_order_paid_effects_locked`), `coupon_release_for_order`
(orders' `_order_release_benefits`), `coupon_return_for_refunded_order` (payments'
`_order_refunded_fully_locked`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

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
from members.selectors import member_ids_existing
from members.tags import tag_member_ids

from ..coupon_rules import CouponData, coupon_evaluate
from ..models import Coupon, CouponCode, CouponCodeBatch, CouponTemplate
from ..sql import coupons_usable_fetch, spend_rule_template_ids

logger = logging.getLogger(__name__)

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed by hand
CODE_LENGTH = 12
CODE_MAX_BATCH = 100_000
# Discount sources of the campaigns (满减/满折, N元N件, 买赠): a coupon that does not stack with
# campaigns is judged on the goods before them.
CAMPAIGN_SOURCES = frozenset({"full_reduction", "full_discount", "n_for_price", "buy_gift"})


# --- templates and validity ---
def coupon_template_window(template: CouponTemplate, *, now: datetime) -> tuple[datetime, datetime]:
    """(valid_from, valid_until) of a coupon of this template received now."""
    if template.validity == CouponTemplate.Validity.RELATIVE:
        return now, now + timedelta(days=template.valid_days)
    return template.starts_at or now, template.ends_at or now


def _template_check_issuable(template: CouponTemplate, *, now: datetime) -> None:
    """Raises: CouponNotFound (inactive), CouponExpired (a fixed window already over)."""
    if not template.is_active:
        raise CouponNotFound("优惠券已停用", template_id=template.pk)
    if template.validity == CouponTemplate.Validity.RELATIVE and template.valid_days <= 0:
        raise CouponExpired("优惠券有效期配置有误", template_id=template.pk)
    if template.validity == CouponTemplate.Validity.FIXED and (
        template.ends_at is None or template.ends_at <= now
    ):
        raise CouponExpired(template_id=template.pk)


def _issued_count_take(template: CouponTemplate, n: int) -> None:
    """Take n from the template's quantity (conditional UPDATE). Raises: CouponSoldOut."""
    taken = CouponTemplate.objects.filter(pk=template.pk)
    if template.total_quantity is not None:
        taken = taken.filter(issued_count__lte=F("total_quantity") - n)
    if not taken.update(issued_count=F("issued_count") + n):
        raise CouponSoldOut(template_id=template.pk)


# --- claim centre and codes: one coupon under the per-member limit ---
def _member_slots_taken(*, template_id: int, member_id: int) -> int:
    return Coupon.objects.filter(
        template_id=template_id, member_id=member_id, member_slot__isnull=False
    ).count()


def _coupon_issue_limited(
    *, template: CouponTemplate, member_id: int, source: str, source_ref: str, now: datetime
) -> Coupon:
    """One coupon that counts towards the per-member limit; inside the caller's transaction.

    Raises: CouponLimitReached, CouponSoldOut, CouponCodeUsed (source_ref taken meanwhile).
    """
    taken = _member_slots_taken(template_id=template.pk, member_id=member_id)
    if taken >= template.per_member_limit:
        raise CouponLimitReached(template_id=template.pk, limit=template.per_member_limit)
    _issued_count_take(template, 1)
    valid_from, valid_until = coupon_template_window(template, now=now)
    for _ in range(3):
        try:
            with transaction.atomic():
                return Coupon.objects.create(
                    member_id=member_id,
                    template=template,
                    valid_from=valid_from,
                    valid_until=valid_until,
                    source=source,
                    source_ref=source_ref,
                    member_slot=taken + 1,
                    created_at=now,
                )
        except IntegrityError:
            # The same member claimed at the same moment; we waited for that commit.
            if (
                source_ref
                and Coupon.objects.filter(
                    template=template, member_id=member_id, source_ref=source_ref
                ).exists()
            ):
                raise CouponCodeUsed("您已兑换过该兑换码") from None
            taken = _member_slots_taken(template_id=template.pk, member_id=member_id)
            if taken >= template.per_member_limit:
                raise CouponLimitReached(
                    template_id=template.pk, limit=template.per_member_limit
                ) from None
    raise CouponLimitReached(template_id=template.pk, limit=template.per_member_limit)


@transaction.atomic
def coupon_claim(*, member_id: int, template_id: int, now: datetime | None = None) -> Coupon:
    """Claim a coupon in the claim centre (领券中心).

    Raises: CouponNotFound, CouponExpired, CouponSoldOut, CouponLimitReached.
    """
    now = now or timezone.now()
    template = CouponTemplate.objects.filter(pk=template_id, is_claimable=True).first()
    if template is None:
        raise CouponNotFound(template_id=template_id)
    _template_check_issuable(template, now=now)
    return _coupon_issue_limited(
        template=template, member_id=member_id, source=Coupon.Source.CLAIM, source_ref="", now=now
    )


def coupon_code_normalize(code: str) -> str:
    return "".join(code.split()).upper()


@transaction.atomic
def coupon_code_redeem(*, member_id: int, code: str, now: datetime | None = None) -> Coupon:
    """Redeem a code: a single-use code once in all, a shared code once per member up to its
    limit. The code's use and the coupon are one transaction (a sold-out template uses nothing).

    Raises: CouponCodeInvalid, CouponCodeUsed, CouponExpired, CouponSoldOut, CouponLimitReached.
    """
    now = now or timezone.now()
    row = (
        CouponCode.objects.select_related("template")
        .filter(code=coupon_code_normalize(code), is_active=True)
        .first()
    )
    if row is None:
        raise CouponCodeInvalid()
    source_ref = f"code:{row.pk}"
    if Coupon.objects.filter(
        template_id=row.template_id, member_id=member_id, source_ref=source_ref
    ).exists():
        raise CouponCodeUsed("您已兑换过该兑换码")
    try:
        _template_check_issuable(row.template, now=now)
    except CouponNotFound:
        raise CouponCodeInvalid("兑换码对应的优惠券已停用") from None
    won = CouponCode.objects.filter(pk=row.pk, used_count__lt=F("max_uses")).update(
        used_count=F("used_count") + 1
    )
    if not won:
        raise CouponCodeUsed()
    return _coupon_issue_limited(
        template=row.template,
        member_id=member_id,
        source=Coupon.Source.CODE,
        source_ref=source_ref,
        now=now,
    )


def _code_new() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


@transaction.atomic
def coupon_codes_generate(
    *, template_id: int, name: str, kind: str, quantity: int, code: str = ""
) -> CouponCodeBatch:
    """A batch of redeem codes: `single` makes `quantity` random single-use codes, `shared` one
    code (given, or random) redeemable `quantity` times, once per member. Codes do not reserve
    the template's quantity: a redemption past it is coupon_sold_out.

    Raises: CouponNotFound, CouponCodeInvalid (bad quantity, or the shared code exists).
    """
    template = CouponTemplate.objects.filter(pk=template_id).first()
    if template is None:
        raise CouponNotFound(template_id=template_id)
    if not 1 <= quantity <= CODE_MAX_BATCH:
        raise CouponCodeInvalid(f"数量须在 1 到 {CODE_MAX_BATCH} 之间", quantity=quantity)
    batch = CouponCodeBatch.objects.create(
        template=template, name=name, kind=kind, quantity=quantity
    )
    if kind == CouponCodeBatch.Kind.SHARED:
        text = coupon_code_normalize(code) or _code_new()
        if not 4 <= len(text) <= 32 or CouponCode.objects.filter(code=text).exists():
            raise CouponCodeInvalid("兑换码已存在或长度不在 4-32 之间", code=text)
        CouponCode.objects.create(batch=batch, template=template, code=text, max_uses=quantity)
        return batch
    if kind != CouponCodeBatch.Kind.SINGLE:
        raise CouponCodeInvalid("未知的兑换码类型", kind=kind)
    made = 0
    while made < quantity:
        chunk = min(quantity - made, 1000)
        rows = [
            CouponCode(batch=batch, template=template, code=_code_new(), max_uses=1)
            for _ in range(chunk)
        ]
        CouponCode.objects.bulk_create(rows, ignore_conflicts=True)  # a rare clash is redrawn
        made = CouponCode.objects.filter(batch=batch).count()
    return batch


# --- merchant, journeys, referral, points mall, spend ---
@transaction.atomic
def coupons_issue(
    *,
    template_id: int,
    member_ids: Iterable[int],
    source: str = Coupon.Source.MERCHANT,
    source_ref: str = "",
    now: datetime | None = None,
) -> list[Coupon]:
    """Issue one coupon of the template to each member (unknown ids are skipped). Not limited
    per member; limited by the template's total quantity: all or nothing. With a source_ref, a
    member who has this template's coupon with that ref gets none again (idempotent).

    Raises: CouponNotFound, CouponExpired, CouponSoldOut.
    """
    now = now or timezone.now()
    if source not in Coupon.Source.values:
        raise ValueError(f"unknown coupon source {source!r}")
    template = CouponTemplate.objects.select_for_update().filter(pk=template_id).first()
    if template is None:
        raise CouponNotFound(template_id=template_id)
    wanted = list(dict.fromkeys(member_ids))
    ids = member_ids_existing(member_ids=wanted)
    if source_ref:
        ids -= set(
            Coupon.objects.filter(
                template=template, member_id__in=ids, source_ref=source_ref
            ).values_list("member_id", flat=True)
        )
    targets = [pk for pk in wanted if pk in ids]
    if not targets:
        return []  # a replay: everyone has theirs already
    _template_check_issuable(template, now=now)
    _issued_count_take(template, len(targets))
    valid_from, valid_until = coupon_template_window(template, now=now)
    return Coupon.objects.bulk_create(
        [
            Coupon(
                member_id=member_id,
                template=template,
                valid_from=valid_from,
                valid_until=valid_until,
                source=source,
                source_ref=source_ref,
                created_at=now,
            )
            for member_id in targets
        ],
        batch_size=1000,
    )


@transaction.atomic
def coupon_issue(
    *, template_id: int, member_id: int, source: str, source_ref: str, now: datetime | None = None
) -> Coupon:
    """One coupon to one member (journeys, referral, points mall), idempotent by (template,
    member, source_ref): a repeat returns the coupon issued the first time.

    Raises: CouponNotFound, CouponExpired, CouponSoldOut.
    """
    if not source_ref:
        raise ValueError("coupon_issue needs a source_ref (its idempotency key)")
    issued = coupons_issue(
        template_id=template_id,
        member_ids=[member_id],
        source=source,
        source_ref=source_ref,
        now=now,
    )
    if issued:
        return issued[0]
    coupon = Coupon.objects.filter(
        template_id=template_id, member_id=member_id, source_ref=source_ref
    ).first()
    if coupon is None:
        raise CouponNotFound("会员不存在", member_id=member_id)
    return coupon


@transaction.atomic
def coupons_issue_to_tag(
    *,
    template_id: int,
    tag_id: int,
    source: str = Coupon.Source.MERCHANT,
    source_ref: str = "",
    now: datetime | None = None,
) -> int:
    """Issue one coupon to every member with the tag (all or nothing); returns how many.

    Raises: CouponNotFound, CouponExpired, CouponSoldOut.
    """
    member_ids = [pk for batch in tag_member_ids(tag_id=tag_id) for pk in batch]
    return len(
        coupons_issue(
            template_id=template_id,
            member_ids=member_ids,
            source=source,
            source_ref=source_ref,
            now=now,
        )
    )


def coupons_grant_on_spend(
    *, order_id: int, member_id: int, paid_fen: int, now: datetime | None = None
) -> int:
    """消费返券, in the caller's paid transaction: each active rule the paid amount reaches gives
    its templates, once per order and template (a replay gives nothing). A template sold out or
    over is skipped, never failing the payment. Returns how many coupons were issued."""
    now = now or timezone.now()
    issued = 0
    for template_id in spend_rule_template_ids(paid_fen=paid_fen, now=now):
        try:
            issued += len(
                coupons_issue(
                    template_id=template_id,
                    member_ids=[member_id],
                    source=Coupon.Source.SPEND,
                    source_ref=f"order:{order_id}",
                    now=now,
                )
            )
        except (CouponNotFound, CouponExpired, CouponSoldOut) as exc:
            logger.info(
                "spend grant of template %s for order %s skipped: %r", template_id, order_id, exc
            )
    return issued


# --- checkout ---
def coupon_data_from(coupon: Coupon) -> CouponData:
    """The snapshot pricing reads (needs `template` loaded)."""
    template = coupon.template
    return CouponData(
        id=coupon.pk,
        template_id=template.pk,
        name=template.name,
        kind=template.kind,
        threshold_fen=template.threshold_fen,
        amount_fen=template.amount_fen,
        rate_bp=template.rate_bp,
        cap_fen=template.cap_fen,
        sku_id=template.sku_id,
        scope=template.scope,
        category_ids=tuple(template.category_ids or ()),
        product_ids=tuple(template.product_ids or ()),
        excluded_product_ids=tuple(template.excluded_product_ids or ()),
        stackable_with_campaigns=template.stackable_with_campaigns,
        valid_from=coupon.valid_from,
        valid_until=coupon.valid_until,
    )


def coupons_usable_load(*, member_id: int, now: datetime) -> list[CouponData]:
    """The member's coupons usable now (unused, started, not expired), soonest to expire
    first; one query."""
    # The templates are loaded only when there are coupons: most members hold none.
    coupons = coupons_usable_fetch(member_id=member_id, status=Coupon.Status.UNUSED.value, now=now)
    if not coupons:
        return []
    templates = CouponTemplate.objects.in_bulk({coupon.template_id for coupon in coupons})
    for coupon in coupons:
        coupon.template = templates[coupon.template_id]
    return [coupon_data_from(coupon) for coupon in coupons]


def coupon_data_for_member(*, member_id: int, coupon_id: int, now: datetime) -> CouponData:
    """The member's chosen coupon, if usable now.

    Raises: CouponUnavailable (not theirs, used, or held by another unpaid order),
    CouponExpired, CouponNotStarted.
    """
    coupon = (
        Coupon.objects.select_related("template").filter(pk=coupon_id, member_id=member_id).first()
    )
    if coupon is None:
        raise CouponUnavailable("优惠券不存在", coupon_id=coupon_id)
    if coupon.status == Coupon.Status.EXPIRED or (
        coupon.status == Coupon.Status.UNUSED and coupon.valid_until <= now
    ):
        raise CouponExpired(coupon_id=coupon_id)
    if coupon.status == Coupon.Status.REVOKED:
        raise CouponUnavailable("优惠券已作废（返券的订单已退款）", coupon_id=coupon_id)
    if coupon.status != Coupon.Status.UNUSED:
        raise CouponUnavailable("优惠券已使用或被未支付订单占用", coupon_id=coupon_id)
    if coupon.valid_from > now:
        raise CouponNotStarted(coupon_id=coupon_id, valid_from=coupon.valid_from.isoformat())
    return coupon_data_from(coupon)


@dataclass(frozen=True)
class CouponCheckoutOption:
    """One of the member's coupons at checkout: what it would take off, or why not."""

    coupon: Coupon
    amount_fen: int
    unusable_reason: str | None

    @property
    def usable(self) -> bool:
        return self.unusable_reason is None


def _lines_before_campaigns(lines: Sequence[Any]) -> list[Any]:
    """The lines with the campaigns' discounts given back (for a coupon that does not stack)."""
    result = []
    for line in lines:
        back = sum(fen for source, fen in line.discount_parts if source in CAMPAIGN_SOURCES)
        result.append(replace(line, discount_fen=line.discount_fen - back) if back else line)
    return result


def coupons_checkout_options(
    *, member_id: int, lines: Sequence[Any], shipping_hint_fen: int, now: datetime
) -> list[CouponCheckoutOption]:
    """Every unused, unexpired coupon of the member judged on these (QuoteLine) lines, usable
    ones first (largest discount first). Lines are priced without a coupon; a coupon that does
    not stack with campaigns is judged on the goods before them."""
    coupons = Coupon.objects.filter(
        member_id=member_id, status=Coupon.Status.UNUSED, valid_until__gt=now
    ).select_related("template")
    before_campaigns: list[Any] | None = None
    options = []
    for coupon in coupons:
        if coupon.valid_from > now:
            options.append(CouponCheckoutOption(coupon, 0, "未到使用时间"))
            continue
        data = coupon_data_from(coupon)
        judged_on = lines
        if not data.stackable_with_campaigns:
            before_campaigns = before_campaigns or _lines_before_campaigns(lines)
            judged_on = before_campaigns
        result = coupon_evaluate(data, judged_on, shipping_hint_fen=shipping_hint_fen)
        options.append(CouponCheckoutOption(coupon, result.amount_fen, result.unusable_reason))
    options.sort(key=lambda o: (not o.usable, -o.amount_fen, o.coupon.valid_until, o.coupon.pk))
    return options


# --- an order's coupon ---
def coupon_lock_for_order(*, coupon_id: int, member_id: int, order_id: int, now: datetime) -> None:
    """Inside order creation's transaction: the unpaid order holds the coupon (unused → locked).
    A repeat for the same order is a no-op.

    Raises: CouponUnavailable (used, held by another order, expired or not the member's
    meanwhile): the order is not created.
    """
    won = Coupon.objects.filter(
        pk=coupon_id,
        member_id=member_id,
        status=Coupon.Status.UNUSED,
        valid_from__lte=now,
        valid_until__gt=now,
    ).update(status=Coupon.Status.LOCKED, order_id=order_id, locked_at=now)
    if won:
        return
    if Coupon.objects.filter(pk=coupon_id, status=Coupon.Status.LOCKED, order_id=order_id).exists():
        return
    raise CouponUnavailable("优惠券已被使用或已失效", coupon_id=coupon_id)


def coupon_mark_used_for_order(*, order_id: int, now: datetime | None = None) -> int:
    """In the order's pending → paid transaction: its coupon is used; the template's used_count
    counts it once (a replay finds nothing locked). Returns how many coupons."""
    now = now or timezone.now()
    used = 0
    locked = Coupon.objects.filter(order_id=order_id, status=Coupon.Status.LOCKED)
    for pk, template_id in locked.order_by("pk").values_list("pk", "template_id"):
        if Coupon.objects.filter(pk=pk, status=Coupon.Status.LOCKED).update(
            status=Coupon.Status.USED, used_at=now
        ):
            CouponTemplate.objects.filter(pk=template_id).update(used_count=F("used_count") + 1)
            used += 1
    return used


def coupon_release_for_order(*, order_id: int, now: datetime | None = None) -> int:
    """An unpaid order is cancelled or expired (in the winner's transaction): its coupon is
    unused again while still valid, else expired. Returns how many coupons."""
    now = now or timezone.now()
    locked = Coupon.objects.filter(order_id=order_id, status=Coupon.Status.LOCKED)
    back = locked.filter(valid_until__gt=now).update(
        status=Coupon.Status.UNUSED, order_id=None, locked_at=None
    )
    gone = locked.filter(valid_until__lte=now).update(status=Coupon.Status.EXPIRED)
    return back + gone


def coupon_return_for_refunded_order(*, order_id: int, now: datetime | None = None) -> int:
    """A paid order is refunded in full (in that transaction): its coupon is returned while
    still valid (and no longer counts as used); an expired one stays used. Returns how many."""
    now = now or timezone.now()
    returned = 0
    used = Coupon.objects.filter(order_id=order_id, status=Coupon.Status.USED, valid_until__gt=now)
    for pk, template_id in used.order_by("pk").values_list("pk", "template_id"):
        if Coupon.objects.filter(pk=pk, status=Coupon.Status.USED).update(
            status=Coupon.Status.UNUSED, order_id=None, locked_at=None, used_at=None
        ):
            CouponTemplate.objects.filter(pk=template_id, used_count__gt=0).update(
                used_count=F("used_count") - 1
            )
            returned += 1
    return returned


def coupons_spend_grants_revoke(*, order_id: int, member_id: int) -> int:
    """A paid order is refunded in full (in that transaction): the coupons its payment granted
    (消费返券) are revoked while unused, so buying to get a coupon and refunding does not keep
    it. One already used, or held by an unpaid order, stays: the shop does not take back what
    was spent. Returns how many."""
    revoked = Coupon.objects.filter(
        member_id=member_id,
        source=Coupon.Source.SPEND,
        source_ref=f"order:{order_id}",
        status=Coupon.Status.UNUSED,
    ).update(status=Coupon.Status.REVOKED)
    if revoked:
        logger.info("order %s refunded: %s spend coupons revoked", order_id, revoked)
    return revoked


# --- reads ---
WALLET_TABS = ("usable", "used", "expired")


def coupons_for_member(*, member_id: int, tab: str, now: datetime) -> QuerySet[Coupon]:
    """The wallet (我的优惠券): usable (unused, not expired, soonest to expire first), used
    (used, or held by an unpaid order), expired."""
    coupons = Coupon.objects.filter(member_id=member_id).select_related("template")
    if tab == "usable":
        return coupons.filter(status=Coupon.Status.UNUSED, valid_until__gt=now).order_by(
            "valid_until", "id"
        )
    if tab == "used":
        return coupons.filter(status__in=(Coupon.Status.USED, Coupon.Status.LOCKED)).order_by("-id")
    return coupons.filter(
        Q(status__in=(Coupon.Status.EXPIRED, Coupon.Status.REVOKED))
        | Q(status=Coupon.Status.UNUSED, valid_until__lte=now)
    ).order_by("-valid_until", "-id")


def coupon_templates_claimable(*, member_id: int, now: datetime) -> QuerySet[CouponTemplate]:
    """The claim centre: active templates shown there and not over, each annotated with
    `claimed` (how many of its limited coupons the member holds); newest first."""
    mine = (
        Coupon.objects.filter(
            template=OuterRef("pk"), member_id=member_id, member_slot__isnull=False
        )
        .order_by()
        .values("template")
        .annotate(n=Count("*"))
        .values("n")
    )
    return (
        CouponTemplate.objects.filter(is_active=True, is_claimable=True)
        .filter(
            Q(validity=CouponTemplate.Validity.RELATIVE, valid_days__gt=0)
            | Q(validity=CouponTemplate.Validity.FIXED, ends_at__gt=now)
        )
        .annotate(claimed=Coalesce(Subquery(mine, output_field=IntegerField()), Value(0)))
        .order_by("-id")
    )


def coupon_template_claim_state(template: CouponTemplate) -> str:
    """ "ok", "sold_out" or "limit_reached" (needs the `claimed` annotation)."""
    if template.total_quantity is not None and template.issued_count >= template.total_quantity:
        return "sold_out"
    if template.claimed >= template.per_member_limit:  # type: ignore[attr-defined]
        return "limit_reached"
    return "ok"


__all__ = [
    "CouponCheckoutOption",
    "coupon_claim",
    "coupon_code_redeem",
    "coupon_codes_generate",
    "coupon_data_for_member",
    "coupon_issue",
    "coupon_lock_for_order",
    "coupon_mark_used_for_order",
    "coupon_release_for_order",
    "coupon_return_for_refunded_order",
    "coupons_checkout_options",
    "coupons_for_member",
    "coupons_grant_on_spend",
    "coupons_issue",
    "coupons_issue_to_tag",
    "coupons_spend_grants_revoke",
    "coupons_usable_load",
]
