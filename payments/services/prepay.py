"""What orders' payments (pay.py) and top-ups (top_ups.py) share about a WeChat prepay."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.urls import reverse

PREPAY_TTL = timedelta(hours=2)  # a prepay_id is valid for 2 hours
MIN_TIME_EXPIRE = timedelta(minutes=5, seconds=30)  # WeChat refuses < 5 min (+ clock skew)
PREPAY_REUSE_MARGIN = timedelta(minutes=1)  # a reused prepay leaves the shopper time to pay


def payment_notify_url() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("wechat-pay-notify")
