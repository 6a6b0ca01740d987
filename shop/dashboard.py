"""The figures at the top of the admin index: what needs the merchant's attention today. Each
app reads its own figures (its selectors); the dashboard puts them together."""

from datetime import datetime, time
from typing import Any

from django.utils import timezone

from catalog.selectors import sku_low_stock_count
from mall.money import yuan
from marketing.selectors import marketing_dashboard_figures
from members.selectors import members_dashboard_figures
from orders.selectors import orders_dashboard_figures
from payments.services import refunds_change_count


def dashboard_figures(*, now: datetime | None = None) -> dict[str, Any]:
    now = timezone.localtime(now or timezone.now())
    today_start = timezone.make_aware(datetime.combine(now.date(), time.min))
    orders = orders_dashboard_figures(since=today_start)
    return {
        "paid_today": orders["paid"],
        "gmv_today": yuan(orders["gmv_fen"]),
        "to_ship": orders["to_ship"],
        "to_pickup": orders["to_pickup"],
        "pending_payment": orders["pending_payment"],
        "low_stock": sku_low_stock_count(),
        "refunds_change": refunds_change_count(),
        # Promotions and members at a glance: what runs now, what moved today.
        **marketing_dashboard_figures(now=now, since=today_start),
        **members_dashboard_figures(since=today_start, today=now.date()),
    }
