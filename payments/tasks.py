"""Celery tasks of the payments app: each takes ids, calls one service, and is safe to run twice.
Those the services queue are named in payments.task_names.

When tasks run eagerly (tests, the embedded mode) a retry would re-run at once inside the caller's
request, so eager tasks do not retry: the beat safety nets (payments_sync_pending_task,
refunds_sync_task) pick the work up later.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from mall.errors import WechatUnavailable

from . import services, task_names

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600


def _backoff(base_seconds: int, retries: int) -> int:
    return int(min(base_seconds * 2**retries, MAX_BACKOFF_SECONDS))


@shared_task(
    name=task_names.PAYMENT_PAID_FOLLOWUPS,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def payment_paid_followups_task(order_id: int) -> None:
    """After an order is paid: the subscribe message, and closing its other WeChat trades."""
    services.order_paid_followups(order_id=order_id)


@shared_task(
    name=task_names.PAID_FOLLOWUPS_SWEEP,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def paid_followups_sweep_task(older_than_seconds: int | None = None) -> dict[str, int]:
    """Follow-ups of paid orders still due: queued (coalesced) by payment notifications with
    older_than_seconds=0, and every minute by beat as the safety net. A full batch queues the
    next one."""
    result = services.paid_followups_sweep(older_than_seconds=older_than_seconds)
    if result["more"]:
        paid_followups_sweep_task.delay(older_than_seconds)
    return result


@shared_task(
    name=task_names.REFUND_SUBMIT,
    bind=True,
    acks_late=True,
    max_retries=12,
)
def refund_submit_task(self, refund_id: int) -> str:
    """Send a pending refund to WeChat; then poll it with refund_query_task until it is final."""
    try:
        status = services.refund_submit(refund_id=refund_id)
    except (WechatUnavailable, OperationalError) as exc:
        if self.request.is_eager or self.request.retries >= self.max_retries:
            logger.warning("refund %s not submitted yet: %r", refund_id, exc)
            return "pending"
        countdown = _backoff(settings.REFUND_RETRY_BASE_SECONDS, self.request.retries)
        raise self.retry(exc=exc, countdown=countdown) from exc
    if status == "processing" and not self.request.is_eager:
        refund_query_task.apply_async((refund_id,), countdown=settings.REFUND_QUERY_FIRST_SECONDS)
    return status


@shared_task(bind=True, acks_late=True, max_retries=15)
def refund_query_task(self, refund_id: int) -> str:
    """refundquery until WeChat's answer is final, backing off (the notification usually wins)."""
    try:
        status = services.refund_query_sync(refund_id=refund_id)
    except (WechatUnavailable, OperationalError) as exc:
        status, error = "unknown", exc
    else:
        error = None
    if status not in ("PROCESSING", "unknown") or self.request.is_eager:
        return status
    if self.request.retries >= self.max_retries:
        logger.warning("refund %s still %s; the sync beat keeps asking", refund_id, status)
        return status
    countdown = _backoff(settings.REFUND_QUERY_FIRST_SECONDS, self.request.retries + 1)
    raise self.retry(exc=error, countdown=countdown)


@shared_task(acks_late=True)
def payments_sync_pending_task(after_id: int = 0) -> dict[str, int]:
    """Every 2 minutes (beat): orderquery attempts of orders pending payment for more than
    PAYMENT_SYNC_AFTER_SECONDS (lost notifications), close leftover trades of orders no longer
    pending. A full batch enqueues the next one."""
    result = services.payment_attempts_sync(after_id=after_id)
    if result["next_after_id"]:
        payments_sync_pending_task.delay(result["next_after_id"])
    return result


@shared_task(acks_late=True)
def refunds_sync_task(after_id: int = 0) -> dict[str, int]:
    """Every 5 minutes (beat): submit refunds whose task was lost, query processing ones."""
    result = services.refunds_sync(after_id=after_id)
    if result["next_after_id"]:
        refunds_sync_task.delay(result["next_after_id"])
    return result


@shared_task(acks_late=True, autoretry_for=(WechatUnavailable,), retry_backoff=600, max_retries=6)
def reconcile_task(bill_date: str | None = None) -> dict[str, object]:
    """Each morning at 09:30 (beat; WeChat's bills are ready from 09:00): the day before."""
    day = date.fromisoformat(bill_date) if bill_date else timezone.localdate() - timedelta(days=1)
    run = services.wechat_bill_reconcile(bill_date=day)
    return {"run_id": run.pk, "differences": run.differences_count}


# --- 拼团 group buying ---
@shared_task(
    name=task_names.GROUP_BUY_EXPIRE,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def group_buy_expire_task(group_id: int) -> int:
    """At a group's deadline (queued with an eta when its leader pays): fail it and refund its
    paid orders, or nothing when it formed meanwhile. The beat sweep is the safety net (and
    Redis may re-deliver an eta longer than its visibility timeout: running twice is safe)."""
    return services.group_buy_expire(group_id=group_id)


@shared_task(
    name=task_names.GROUP_BUY_ORDER_REFUND,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def group_buy_order_refund_task(order_id: int) -> None:
    """A payment that arrived after its group failed: refund it (idempotent)."""
    services.group_buy_order_refund(order_id=order_id)


@shared_task(acks_late=True)
def group_buys_expire_task() -> dict[str, int]:
    """Every minute (beat): overdue groups and failed groups' unrefunded orders, in batches."""
    result = services.group_buys_expire()
    if result["has_more"]:
        group_buys_expire_task.delay()
    return result
