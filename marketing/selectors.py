"""Reads of the marketing app for other apps (the admin dashboard)."""

from datetime import datetime

from .models import Campaign, Coupon, FlashSession, Group


def marketing_dashboard_figures(*, now: datetime, since: datetime) -> dict[str, int]:
    """Promotions at a glance for the admin dashboard: campaigns, flash sessions and groups
    running `now`, coupons used since `since` (one count each)."""
    return {
        "campaigns_running": Campaign.objects.filter(
            is_active=True, ended_early_at__isnull=True, starts_at__lte=now, ends_at__gt=now
        ).count(),
        "flash_running": FlashSession.objects.filter(starts_at__lte=now, ends_at__gt=now).count(),
        "groups_forming": Group.objects.filter(status=Group.Status.FORMING).count(),
        "coupons_used_today": Coupon.objects.filter(
            status=Coupon.Status.USED, used_at__gte=since
        ).count(),
    }
