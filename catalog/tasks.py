"""Celery tasks of the catalogue: they take ids and call one service."""

from celery import shared_task
from django.db import OperationalError

from .thumbnails import product_thumbnails_make


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def product_thumbnails_task(product_id: int) -> None:
    product_thumbnails_make(product_id=product_id)
