"""Celery tasks of the members app (beat and admin-triggered); the subscribe-message senders,
queued by services, live in subscribe_tasks and are imported here so workers register them."""

from celery import shared_task
from django.db import OperationalError

from .levels import member_levels_recompute_all
from .points import points_expire_due, points_expiry_notify_due
from .subscribe_tasks import (  # noqa: F401 - registered with the worker
    subscribe_message_send_task,
    subscribe_messages_send_batch_task,
)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def points_expire_task() -> dict[str, int]:
    """Expire lots past their expiry and warn members whose points expire soon (once per lot)."""
    return {"expired": points_expire_due(), "notified": points_expiry_notify_due()}


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def member_levels_recompute_task() -> int:
    """After the merchant changed the levels: every member's level again (batched)."""
    return member_levels_recompute_all()
