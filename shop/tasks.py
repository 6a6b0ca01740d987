"""Celery tasks of the top layer: the use cases that read several apps."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from marketing.services.journeys import birthday_run

from .lifecycle.journeys import replenish_run, winback_run

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def journeys_run_task() -> dict:
    """The daily lifecycle journeys: replenish reminders, win-back and birthday coupons."""
    counts = {"replenish": replenish_run(), "winback": winback_run(), "birthday": birthday_run()}
    logger.info("journeys: %s", counts)
    return counts
