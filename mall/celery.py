"""The Celery app. Tasks are discovered in each app's tasks.py; schedules live in settings."""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")

app = Celery("mall")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _startup_tasks(**kwargs: object) -> None:
    """When a worker starts: rebuild the flash-sale counters in Redis from the database (the
    source of truth), in case Redis restarted or lost them; beat repeats it every minute."""
    app.send_task("marketing.tasks.flash_sale.flash_counters_reconcile_task")
