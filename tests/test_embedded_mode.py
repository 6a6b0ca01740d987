"""The embedded mode of `make run` (no DATABASE_URL, no REDIS_URL: the checkout's own embedded
PostgreSQL, an in-memory cache, eager Celery) must keep working.

On a fresh embedded PostgreSQL (a temporary data directory, started and stopped here through
`python -m mall.embedded_postgres` as scripts/run.sh does): migrate, seed the demo twice
(idempotent), then `smoke_embedded` drives the shopper API end to end (browse, coupons, sign-in,
flash sale, order → cancel, pay with balance, pay through the WeChat simulator and its
notification, recommendations, the admin's pages) and checks what each step did. The batch jobs
run on it too. Stopped, the server is gone; started again, it has the same data.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
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


def _run(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S603 - our interpreter, our modules
        [sys.executable, *args],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if check:
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{output[-6000:]}"
    return result


def _manage(env: dict[str, str], *args: str) -> str:
    return _run(env, str(settings.BASE_DIR / "manage.py"), *args).stdout


def _server(env: dict[str, str], action: str) -> subprocess.CompletedProcess:
    return _run(env, "-m", "mall.embedded_postgres", action, check=action != "url")


def _postgres_processes(pgdata: Path) -> list[psutil.Process]:
    return [
        process
        for process in psutil.process_iter(["name", "cmdline"])
        if process.info["name"] == "postgres" and str(pgdata) in (process.info["cmdline"] or [])
    ]


@pytest.fixture
def pgdata() -> Iterator[Path]:
    """A new data directory. Not under tmp_path: run as root, the server runs as another user,
    who must be able to enter every parent, and pytest keeps its base directory private."""
    parent = Path(tempfile.mkdtemp(prefix="mall-embedded-"))
    parent.chmod(0o755)
    try:
        yield parent / "pgdata"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def embedded_env(tmp_path: Path, pgdata: Path) -> Iterator[dict[str, str]]:
    """The environment of a `make run` on a new checkout whose .pgdata is `pgdata`; the server is
    stopped at the end whatever happened."""
    env = {
        k: v for k, v in os.environ.items() if k not in NOT_EMBEDDED and not k.startswith("WECHAT_")
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "mall.settings",
        "EMBEDDED_PGDATA": str(pgdata),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "LOG_LEVEL": "ERROR",
        "PYTHONUNBUFFERED": "1",
    }
    try:
        yield env
    finally:
        _server(env, "stop")


def test_embedded_mode_end_to_end(embedded_env: dict[str, str], pgdata: Path) -> None:
    assert _server(embedded_env, "url").returncode == 1  # nothing runs yet
    url = _server(embedded_env, "start").stdout.strip()
    assert url == f"postgresql://postgres@/mall?host={pgdata}&port=5432", url  # a socket only
    assert _server(embedded_env, "start").stdout.strip() == url  # again: the same server

    _manage(embedded_env, "migrate", "--noinput", "-v", "0")
    first = _manage(embedded_env, "seed_demo")
    assert "模板 5 个（新增 5 个）" in first, first
    again = _manage(embedded_env, "seed_demo")  # safe to run twice: nothing new
    assert "模板 5 个（新增 0 个）" in again, again
    assert "新建 0 个" in again, again

    out = _manage(embedded_env, "smoke_embedded")
    assert "数据库 / database: PostgreSQL 18." in out, out
    assert f"(mall on {pgdata})" in out, out
    assert "通知已结算 / notification settled" in out
    assert "全部通过 / all passed" in out

    out = _manage(embedded_env, "shell", "--no-imports", "-c", BATCH_JOBS)
    assert out.split() == ["queued:2", "again:0", "referrals:ok", "tags:ok", "journeys:ok"], out

    # Stopped: no server process is left on the data directory, and settings say so.
    _server(embedded_env, "stop")
    assert _server(embedded_env, "url").returncode == 1
    assert _postgres_processes(pgdata) == []
    check = _run(embedded_env, str(settings.BASE_DIR / "manage.py"), "check", check=False)
    assert f"the embedded PostgreSQL ({pgdata}) is not running" in check.stderr, check.stderr
    assert "make run" in check.stderr

    # Started again: the same data (a second `make run` keeps the first one's shop).
    assert _server(embedded_env, "start").stdout.strip() == url
    out = _manage(embedded_env, "shell", "--no-imports", "-c", DATA_KEPT)
    assert out.split() == ["shopper:1", "paid:yes"], out


# Batch jobs of beat on the embedded PostgreSQL (no WeChat to send to: nothing is due in the demo).
BATCH_JOBS = """
from django.db import transaction
from members.models import Member
from members.subscribe_messages import subscribe_messages_queue_many
from shop.lifecycle.member_tags import tags_auto_refresh
from shop.lifecycle.journeys import replenish_run, winback_run
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
tags_auto_refresh()
print("tags:ok")
replenish_run()
winback_run()
print("journeys:ok")
"""

DATA_KEPT = """
from members.models import Member
from orders.models import Order, OrderStatus
member = Member.objects.get(openid="demo-shopper-openid")
print(f"shopper:{Member.objects.filter(openid='demo-shopper-openid').count()}")
paid = Order.objects.filter(member=member, status=OrderStatus.PAID).exists()
print(f"paid:{'yes' if paid else 'no'}")
"""
