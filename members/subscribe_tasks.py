"""The Celery tasks that send subscribe messages, and nothing else: subscribe_messages (a
service) queues them, so this module may import only what the tasks run (subscribe_delivery).
Their names are the ones they had in members.tasks, so messages queued before still run."""

from celery import shared_task
from celery.exceptions import MaxRetriesExceededError
from django.conf import settings
from django.db import OperationalError

from .subscribe_delivery import (
    SubscribeMessageRetryableError,
    subscribe_message_give_up,
    subscribe_message_send,
)

MAX_SEND_RETRIES = 5


@shared_task(
    bind=True,
    acks_late=True,
    max_retries=MAX_SEND_RETRIES,
    name="members.tasks.subscribe_message_send_task",
)
def subscribe_message_send_task(self, message_id: int) -> str:
    try:
        return subscribe_message_send(message_id=message_id)
    except (SubscribeMessageRetryableError, OperationalError) as exc:
        try:
            # exponential backoff (WeChat's -1 "system busy" is transient)
            countdown = settings.SUBSCRIBE_MESSAGE_RETRY_BASE_SECONDS * 2**self.request.retries
            raise self.retry(exc=exc, countdown=countdown) from exc
        except MaxRetriesExceededError:
            subscribe_message_give_up(message_id=message_id)
            return "failed"


@shared_task(acks_late=True, name="members.tasks.subscribe_messages_send_batch_task")
def subscribe_messages_send_batch_task(message_ids: list[int]) -> int:
    """Send recorded messages one after another (batch jobs queue one task per chunk); one that
    WeChat cannot take now goes to its own retrying task. Safe to run twice (each message is
    claimed before it is sent)."""
    sent = 0
    for message_id in message_ids:
        try:
            sent += subscribe_message_send(message_id=message_id) == "sent"
        except (SubscribeMessageRetryableError, OperationalError):
            subscribe_message_send_task.apply_async(
                (message_id,), countdown=settings.SUBSCRIBE_MESSAGE_RETRY_BASE_SECONDS
            )
    return sent
