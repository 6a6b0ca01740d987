"""A Celery worker that starts rebuilds the flash-sale counters in Redis from the database (the
source of truth): Redis may have restarted or lost writes while no worker ran."""

import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import worker_ready
from django.utils import timezone

from catalog.tests.factories import SkuFactory
from mall.celery import app as celery_app
from marketing import flash_gate
from marketing.models import FlashSession
from marketing.services.flash_sale import flash_item_create


@pytest.mark.django_db(transaction=True)
def test_a_starting_worker_rebuilds_drifted_counters():
    # given: an item of 10 units whose Redis counter drifted to 0
    now = timezone.now()
    session = FlashSession.objects.create(
        name="14:00 场", starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1)
    )
    item = flash_item_create(
        session=session,
        sku_id=SkuFactory(stock=50).pk,
        flash_price_fen=100,
        total_stock=10,
        per_member_limit=1,
    )
    flash_gate.redis_client().hset(f"flash:{{{item.pk}}}:meta", "left", 0)
    # when: a worker starts (the testing worker does not send worker_ready; a real one does)
    celery_app.conf.task_always_eager = False
    try:
        with start_worker(
            celery_app, perform_ping_check=False, pool="threads", concurrency=1, loglevel="WARNING"
        ):
            worker_ready.send(sender=None)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if flash_gate.item_counters(item.pk)["meta"].get("left") == 10:
                    break
                time.sleep(0.05)
    finally:
        celery_app.conf.task_always_eager = True
    # then
    assert flash_gate.item_counters(item.pk)["meta"]["left"] == 10
