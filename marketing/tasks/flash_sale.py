"""Flash-sale tasks: rebuild the Redis counters from the database (beat, every minute), and end
the sessions whose time is over (their unsold units go back to the SKUs). Both are safe to run
twice and concurrently. Tasks call services, never the other way round: an item activated or
changed is reloaded by its service itself after commit."""

from celery import shared_task
from django.db import OperationalError

from ..services import flash_sale


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def flash_counters_reconcile_task() -> int:
    return flash_sale.flash_counters_reconcile()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def flash_sessions_end_task() -> int:
    return flash_sale.flash_sessions_end_due()
