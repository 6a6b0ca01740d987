"""Celery tasks of the top layer: the use cases that read several apps."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from marketing.services.journeys import birthday_run

from .lifecycle.journeys import replenish_run, winback_run
from .lifecycle.member_tags import tags_auto_refresh
from .lifecycle.points_vesting import points_vest_due
from .lifecycle.referral_rewards import referrals_settle

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def journeys_run_task() -> dict:
    """The daily lifecycle journeys: replenish reminders, win-back and birthday coupons."""
    counts = {"replenish": replenish_run(), "winback": winback_run(), "birthday": birthday_run()}
    logger.info("journeys: %s", counts)
    return counts


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def tags_auto_refresh_task() -> dict:
    """Nightly: every member's automatic tags (new, active, dormant, high value)."""
    return tags_auto_refresh()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def points_vest_task() -> int:
    """Hourly: vest the pending points of orders past their after-sales window."""
    return points_vest_due()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def referrals_reward_task() -> dict:
    """Hourly: reward (or cancel) referrals whose invitee's first order is settled."""
    return referrals_settle()
