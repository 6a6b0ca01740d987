"""Demo data for `make run`: safe to run again (it updates, never duplicates)."""

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from members.models import Member

DEMO_SHOPPER_OPENID = "demo-shopper-openid"


class Command(BaseCommand):
    help = "创建演示数据：管理员、演示顾客（可重复执行）"

    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "mall-admin-2026")
        user_model = get_user_model()
        admin, created = user_model.objects.get_or_create(
            username="admin",
            defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"},
        )
        admin.is_staff = admin.is_superuser = True
        admin.set_password(password)
        admin.save()
        Member.objects.update_or_create(
            openid=DEMO_SHOPPER_OPENID, defaults={"nickname": "演示顾客", "phone": "13800138000"}
        )
        self.stdout.write(
            self.style.SUCCESS(f"管理员 {'已创建' if created else '已更新'}: admin / {password}")
        )
        self.stdout.write(f"演示顾客 openid: {DEMO_SHOPPER_OPENID}")
        for extra in self._extra_seeders():
            extra(self.stdout)

    def _extra_seeders(self) -> list:
        """Each app that has demo data adds a `seed_demo(stdout)` to its `demo.py`."""
        import importlib

        seeders = []
        for app in ("catalog", "members", "marketing", "orders", "payments"):
            try:
                module = importlib.import_module(f"{app}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app}.demo":
                    raise
                continue
            seeders.append(module.seed_demo)
        return seeders
