"""Celery tasks of marketing, one module per area, imported here so autodiscovery finds them."""

from . import flash_sale  # noqa: F401
