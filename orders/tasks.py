"""Celery tasks of the orders app: each takes ids, calls one service, and is safe to run twice."""

import logging
from datetime import datetime

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from mall.errors import WechatUnavailable

from . import services

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600


def order_expire_asking_wechat(*, order_id: int, now: datetime | None = None) -> bool:
    """Expire an overdue unpaid order, asking WeChat Pay first (a paid one is settled instead)
    and closing its WeChat trades after. While WeChat cannot answer, the order waits for the
    next sweep (payments' grace period, then it is cancelled anyway)."""
    from payments.services import order_expire

    try:
        return order_expire(order_id=order_id, now=now)
    except WechatUnavailable as exc:
        logger.warning("expiry of order %s waits for WeChat: %r", order_id, exc)
        return False


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def order_close_if_unpaid_task(order_id: int) -> bool:
    return order_expire_asking_wechat(order_id=order_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def orders_expire_due_task() -> dict[str, int]:
    """Expire every unpaid order past its deadline (asking WeChat first): queued by order
    creation with a countdown, one run for the orders a web process creates within a second
    (see orders.services.checkout). A full batch queues the next one at once."""
    result = services.orders_expire_due(
        batch_size=settings.ORDER_SWEEP_BATCH_SIZE, expire=order_expire_asking_wechat
    )
    if result["has_more"]:
        orders_expire_due_task.delay()
    return result


@shared_task(bind=True, acks_late=True, max_retries=None)
def order_shipping_info_upload_task(self, order_id: int) -> bool:
    """Retried with exponential backoff (capped at an hour) until WeChat accepts the upload;
    past ORDER_SHIPPING_UPLOAD_MAX_RETRIES (or when run eagerly, where a retry would fail the
    caller's request) the sweep picks the order up again."""
    try:
        return services.order_shipping_info_upload(order_id=order_id)
    except (WechatUnavailable, OperationalError) as exc:
        retries = self.request.retries
        if self.request.is_eager or retries >= settings.ORDER_SHIPPING_UPLOAD_MAX_RETRIES:
            logger.warning("shipping info of order %s not uploaded yet: %r", order_id, exc)
            return False
        countdown = min(
            settings.ORDER_SHIPPING_UPLOAD_RETRY_BASE_SECONDS * 2**retries, MAX_BACKOFF_SECONDS
        )
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(acks_late=True)
def orders_sweep_task() -> dict[str, int]:
    """Every minute (beat): expire unpaid orders, auto-receive, auto-complete; a full batch
    re-enqueues the next one at once."""
    result = services.orders_sweep(
        batch_size=settings.ORDER_SWEEP_BATCH_SIZE, expire=order_expire_asking_wechat
    )
    if result["has_more"]:
        orders_sweep_task.delay()
    return result
