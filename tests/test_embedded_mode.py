"""The embedded mode of `make run` (no DATABASE_URL, no REDIS_URL: SQLite, an in-memory cache,
eager Celery) must keep working: PostgreSQL-only SQL on a request path turns into a 500 there.

In a subprocess with a temporary SQLite file: migrate, seed the demo twice (idempotent), then
`smoke_embedded` drives the shopper API end to end (browse, coupons, sign-in, flash sale,
order → cancel, pay with balance, pay through the WeChat simulator and its notification,
recommendations, the admin's pages) and fails on any 5xx.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

# Variables that would move the subprocess off the embedded defaults (settings_test sets some
# of them in this process's environment).
NOT_EMBEDDED = (
    "DATABASE_URL",
    "REDIS_URL",
    "DEBUG",
    "SECRET_KEY",
    "CELERY_TASK_ALWAYS_EAGER",
    "PUBLIC_BASE_URL",
    "DJANGO_SETTINGS_MODULE",
)


@pytest.fixture
def embedded_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in NOT_EMBEDDED and not k.startswith("WECHAT_")
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "mall.settings",
        "SQLITE_PATH": str(tmp_path / "embedded.sqlite3"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "LOG_LEVEL": "ERROR",
        "PYTHONUNBUFFERED": "1",
    }
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(  # noqa: S603 - our interpreter, our manage.py
        [sys.executable, str(settings.BASE_DIR / "manage.py"), *args],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{output[-6000:]}"
    return result.stdout


def test_embedded_mode_end_to_end(embedded_env: dict[str, str], tmp_path: Path) -> None:
    _manage(embedded_env, "migrate", "--noinput", "-v", "0")
    assert (tmp_path / "embedded.sqlite3").exists()  # SQLITE_PATH was used, not ./db.sqlite3

    first = _manage(embedded_env, "seed_demo")
    assert "模板 5 个（新增 5 个）" in first, first
    again = _manage(embedded_env, "seed_demo")  # safe to run twice: nothing new
    assert "模板 5 个（新增 0 个）" in again, again
    assert "新建 0 个" in again, again

    out = _manage(embedded_env, "smoke_embedded")
    assert "数据库 / database: sqlite" in out
    assert "通知已结算 / notification settled" in out
    assert "全部通过 / all passed" in out

    out = _manage(embedded_env, "shell", "--no-imports", "-c", BATCH_JOBS)
    assert out.split() == ["queued:2", "again:0", "referrals:ok"] + ["postgresql-only"] * 3, out


# Batch jobs on SQLite: the portable ones run, the PostgreSQL-only ones say so.
BATCH_JOBS = """
from django.db import NotSupportedError, transaction
from members.models import Member
from members.subscribe_messages import subscribe_messages_queue_many
from shop.lifecycle.member_tags import tags_auto_refresh
from marketing.services.journeys import replenish_run, winback_run
from shop.lifecycle.referral_rewards import referrals_settle

member = Member.objects.get(openid="demo-shopper-openid")
messages = [
    {"member_id": member.pk, "template_key": "replenish", "data": {}, "dedup_key": f"embedded:{n}"}
    for n in range(2)
]
with transaction.atomic():  # rolled back: no simulator here to send them to
    print(f"queued:{len(subscribe_messages_queue_many(messages=messages))}")
    print(f"again:{len(subscribe_messages_queue_many(messages=messages))}")
    transaction.set_rollback(True)
referrals_settle()
print("referrals:ok")
for job in (tags_auto_refresh, replenish_run, winback_run):
    try:
        job()
    except NotSupportedError as exc:
        assert "needs PostgreSQL" in str(exc), exc
        print("postgresql-only")
"""
