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
