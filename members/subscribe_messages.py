"""Subscribe messages (订阅消息), the callers' side: record a message and queue its sending
after the caller's transaction commits. Any app's services call these."""

from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import sql
from .models import Member, SubscribeMessage
from .subscribe_tasks import subscribe_message_send_task, subscribe_messages_send_batch_task

SUBSCRIBE_MESSAGES_PER_TASK = 500


def subscribe_message_queue(
    *,
    member: Member,
    template_key: str,
    data: dict[str, Any],
    page: str = "",
    dedup_key: str | None = None,
) -> SubscribeMessage | None:
    """Record a message and send it from a worker after the caller's transaction commits.

    With a dedup_key (e.g. "shipped:<order no>") a repeated call queues nothing.
    """
    if dedup_key and SubscribeMessage.objects.filter(dedup_key=dedup_key).exists():
        return None
    try:
        with transaction.atomic():
            message = SubscribeMessage.objects.create(
                member=member, template_key=template_key, data=data, page=page, dedup_key=dedup_key
            )
    except IntegrityError:
        return None  # a concurrent caller recorded the same message
    transaction.on_commit(lambda: subscribe_message_send_task.delay(message.pk))
    return message


def subscribe_messages_queue_many(*, messages: Sequence[dict[str, Any]]) -> list[int]:
    """subscribe_message_queue for many messages in one statement (batch jobs: journeys); each
    dict has member_id, template_key, data, page, dedup_key. A dedup_key recorded before is
    skipped. Returns the ids recorded; they are sent by workers after the caller commits."""
    if not messages:
        return []
    ids = sql.subscribe_messages_insert(messages=messages, now=timezone.now())

    def enqueue() -> None:
        # One task per chunk, not per message: publishing is the cost of a batch job here.
        for start in range(0, len(ids), SUBSCRIBE_MESSAGES_PER_TASK):
            subscribe_messages_send_batch_task.delay(
                ids[start : start + SUBSCRIBE_MESSAGES_PER_TASK]
            )

    transaction.on_commit(enqueue)
    return ids
