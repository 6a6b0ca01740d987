"""Tests run on real PostgreSQL and Redis (the README's `make test` makes sure both are up)."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mall")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret")
os.environ.setdefault("WECHAT_SECRET", "sim-app-secret-000000000000000000")
os.environ.setdefault("WECHAT_API_KEY", "simapikey0000000000000000000000k")

from .settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405  threads in race tests open their own
# An unreachable default: tests that talk to WeChat start the simulator and point here.
WECHAT_API_BASE = "http://127.0.0.1:9/"
WECHAT_PAY_API_BASE = "http://127.0.0.1:9/"
WECHAT_TIMEOUT_SECONDS = 3
