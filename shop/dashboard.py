"""The figures at the top of the admin index: what needs the merchant's attention today."""

from datetime import datetime, time
from typing import Any

from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from catalog.models import Sku
from mall.money import yuan
from marketing.models import Campaign, Coupon, FlashSession, Group
from members.models import Member, SignIn
from orders.models import Order, OrderStatus
from payments.services import refunds_change_count


def dashboard_figures(*, now: datetime | None = None) -> dict[str, Any]:
    now = timezone.localtime(now or timezone.now())
    today_start = timezone.make_aware(datetime.combine(now.date(), time.min))
    paid_statuses = [
        OrderStatus.PAID,
        OrderStatus.SHIPPED,
        OrderStatus.RECEIVED,
        OrderStatus.COMPLETED,
    ]
    orders = Order.objects.aggregate(
        paid_today=Count("id", filter=Q(paid_at__gte=today_start, status__in=paid_statuses)),
        gmv_today_fen=Sum(
            "payable_fen", filter=Q(paid_at__gte=today_start, status__in=paid_statuses)
        ),
        to_ship=Count(
            "id", filter=Q(status=OrderStatus.PAID, delivery_type=Order.DeliveryType.EXPRESS)
        ),
        to_pickup=Count(
            "id", filter=Q(status=OrderStatus.PAID, delivery_type=Order.DeliveryType.PICKUP)
        ),
        pending_payment=Count("id", filter=Q(status=OrderStatus.PENDING_PAYMENT)),
    )
    low_stock = Sku.objects.filter(is_active=True, stock__lte=F("low_stock_threshold")).count()
    return {
        "paid_today": orders["paid_today"],
        "gmv_today": yuan(orders["gmv_today_fen"] or 0),
        "to_ship": orders["to_ship"],
        "to_pickup": orders["to_pickup"],
        "pending_payment": orders["pending_payment"],
        "low_stock": low_stock,
        "refunds_change": refunds_change_count(),
        **_marketing_figures(now=now, today_start=today_start),
    }


def _marketing_figures(*, now: datetime, today_start: datetime) -> dict[str, int]:
    """Promotions and members at a glance: what runs now, what moved today."""
    return {
        "campaigns_running": Campaign.objects.filter(
            is_active=True, ended_early_at__isnull=True, starts_at__lte=now, ends_at__gt=now
        ).count(),
        "flash_running": FlashSession.objects.filter(starts_at__lte=now, ends_at__gt=now).count(),
        "groups_forming": Group.objects.filter(status=Group.Status.FORMING).count(),
        "coupons_used_today": Coupon.objects.filter(
            status=Coupon.Status.USED, used_at__gte=today_start
        ).count(),
        "members_new_today": Member.objects.filter(created_at__gte=today_start).count(),
        "signins_today": SignIn.objects.filter(date=now.date()).count(),
    }
