from celery import shared_task
from celery.exceptions import MaxRetriesExceededError
from django.conf import settings
from django.db import OperationalError

from . import services

MAX_SEND_RETRIES = 5


@shared_task(bind=True, acks_late=True, max_retries=MAX_SEND_RETRIES)
def subscribe_message_send_task(self, message_id: int) -> str:
    try:
        return services.subscribe_message_send(message_id=message_id)
    except (services.SubscribeMessageRetryableError, OperationalError) as exc:
        try:
            # exponential backoff (WeChat's -1 "system busy" is transient)
            countdown = settings.SUBSCRIBE_MESSAGE_RETRY_BASE_SECONDS * 2**self.request.retries
            raise self.retry(exc=exc, countdown=countdown) from exc
        except MaxRetriesExceededError:
            services.subscribe_message_give_up(message_id=message_id)
            return "failed"


# --- points: vesting and expiry (beat) ---
@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def points_vest_task() -> int:
    """Vest the pending points of orders past their after-sales window (completed: the orders
    sweep completes a received order AFTER_SALE_DAYS later). Batched by lot id; safe to run
    twice. An interface may read the higher orders app; the points services stay order-free."""
    from orders.models import Order, OrderStatus

    from .points import points_lots_vest, points_pending_lots

    vested, after_id = 0, 0
    while batch := points_pending_lots(after_id=after_id, limit=settings.POINTS_BATCH_SIZE):
        completed = set(
            Order.objects.filter(
                no__in=[no for _, no in batch if no], status=OrderStatus.COMPLETED
            ).values_list("no", flat=True)
        )
        vested += points_lots_vest(lot_ids=[pk for pk, no in batch if no in completed])
        after_id = batch[-1][0]
    return vested


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def points_expire_task() -> dict[str, int]:
    """Expire lots past their expiry and warn members whose points expire soon (once per lot)."""
    from .points import points_expire_due, points_expiry_notify_due

    return {"expired": points_expire_due(), "notified": points_expiry_notify_due()}


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def tags_auto_refresh_task() -> dict:
    """Nightly: every member's automatic tags (new, active, dormant, high value)."""
    from .tags import tags_auto_refresh

    return tags_auto_refresh()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def member_levels_recompute_task() -> int:
    """After the merchant changed the levels: every member's level again (batched)."""
    from .levels import member_levels_recompute_all

    return member_levels_recompute_all()


@shared_task(acks_late=True)
def subscribe_messages_send_batch_task(message_ids: list[int]) -> int:
    """Send recorded messages one after another (batch jobs queue one task per chunk); one that
    WeChat cannot take now goes to its own retrying task. Safe to run twice (each message is
    claimed before it is sent)."""
    sent = 0
    for message_id in message_ids:
        try:
            sent += services.subscribe_message_send(message_id=message_id) == "sent"
        except (services.SubscribeMessageRetryableError, OperationalError):
            subscribe_message_send_task.apply_async(
                (message_id,), countdown=settings.SUBSCRIBE_MESSAGE_RETRY_BASE_SECONDS
            )
    return sent
