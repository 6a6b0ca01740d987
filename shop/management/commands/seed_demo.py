"""Demo data for `make run`: safe to run again (it updates, never duplicates)."""

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from catalog import demo as catalog_demo
from marketing import demo as marketing_demo
from members import demo as members_demo
from members.models import Member
from orders import demo as orders_demo

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
        # Each app that has demo data has a `seed_demo(stdout)` in its demo.py, run bottom-up.
        for app_demo in (catalog_demo, members_demo, marketing_demo, orders_demo):
            app_demo.seed_demo(self.stdout)
