"""Celery tasks of the orders app: each takes ids, calls one service, and is safe to run twice.
Those the services queue are named in orders.task_names. An unpaid order expires through
payments' `order_expire_unless_wechat_busy` (WeChat Pay is asked first: a paid order is settled,
not cancelled); a task is an interface, so it may call the app above."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from mall.errors import WechatUnavailable
from payments.services import order_expire_unless_wechat_busy

from . import services, task_names

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600


@shared_task(
    name=task_names.ORDER_EXPIRE,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def order_close_if_unpaid_task(order_id: int) -> bool:
    """When the order's payment time is up (queued by order creation with a countdown)."""
    return order_expire_unless_wechat_busy(order_id=order_id)


@shared_task(
    name=task_names.ORDERS_EXPIRE_DUE,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def orders_expire_due_task() -> dict[str, int]:
    """Expire every unpaid order past its deadline (WeChat Pay asked first): queued by order
    creation with a countdown, one run for the orders a web process creates within a second
    (see orders.services.checkout). A full batch queues the next one at once."""
    result = services.orders_expire_due(
        batch_size=settings.ORDER_SWEEP_BATCH_SIZE, expire=order_expire_unless_wechat_busy
    )
    if result["has_more"]:
        orders_expire_due_task.delay()
    return result


@shared_task(
    name=task_names.ORDER_SHIPPING_INFO_UPLOAD, bind=True, acks_late=True, max_retries=None
)
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
    """Every minute (beat): expire unpaid orders (as orders_expire_due_task does), auto-receive,
    auto-complete; a full batch
    re-enqueues the next one at once."""
    result = services.orders_sweep(
        batch_size=settings.ORDER_SWEEP_BATCH_SIZE, expire=order_expire_unless_wechat_busy
    )
    if result["has_more"]:
        orders_sweep_task.delay()
    return result
