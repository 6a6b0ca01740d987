"""Rebuild the flash-sale Redis counters from the database (e.g. after Redis restarted)."""

from typing import Any

from django.core.management.base import BaseCommand

from marketing.services.flash_sale import flash_counters_reconcile


class Command(BaseCommand):
    help = "秒杀：按数据库重建 Redis 计数（剩余可抢数量、每人已抢数量）"

    def handle(self, *args: Any, **options: Any) -> None:
        loaded = flash_counters_reconcile()
        self.stdout.write(f"reconciled {loaded} flash item(s)")
