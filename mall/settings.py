"""Settings, all from environment variables (README lists them).

With nothing configured this is the embedded mode of `make run`: the checkout's embedded
PostgreSQL (mall/embedded_postgres.py), an in-memory cache, Celery tasks run eagerly in the web
process, WeChat is the local simulator. With DEBUG off DATABASE_URL and the secrets have no
default, so a production process missing one fails at boot.
"""

import sys
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=True)


def _secret(name: str, embedded_default: str) -> str:
    return env.str(name, default=embedded_default) if DEBUG else env.str(name)


SECRET_KEY = _secret("SECRET_KEY", "embedded-mode-only-not-a-secret")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "mall",
    "catalog",
    "members",
    "marketing",
    "orders",
    "payments",
    "shop",
]

# The shopper API (/api/v1/) leaves the list after SecurityMiddleware (mall.middleware): the rest
# is the admin's (sessions, CSRF, login, messages, language, framing).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "mall.middleware.ApiShortcutMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "mall.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# PostgreSQL only. Without DATABASE_URL: with DEBUG off the process refuses to start; in DEBUG
# (the embedded mode) it uses the embedded server of EMBEDDED_PGDATA (./.pgdata), which `make run`
# starts and stops. Settings only attach to a running one; they never start it.
DATABASE_URL = env.str("DATABASE_URL", default="")
if not DATABASE_URL and not DEBUG:
    raise ImproperlyConfigured("DATABASE_URL 未设置 / DATABASE_URL is required when DEBUG is off")
if not DATABASE_URL:
    from mall import embedded_postgres

    EMBEDDED_PGDATA = Path(
        env.str("EMBEDDED_PGDATA", default=str(embedded_postgres.DEFAULT_PGDATA))
    )
    DATABASE_URL = embedded_postgres.running_url(EMBEDDED_PGDATA) or ""
    if not DATABASE_URL:
        sys.stderr.write(
            f"嵌入式 PostgreSQL 未运行 / the embedded PostgreSQL ({EMBEDDED_PGDATA}) is not running:"
            " use `make run`, or `.venv/bin/python -m mall.embedded_postgres start`,"
            " or set DATABASE_URL.\n"
        )
        DATABASE_URL = embedded_postgres.socket_url(EMBEDDED_PGDATA)
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        f"DATABASE_URL must be a PostgreSQL URL (postgres://…), not {DATABASE_URL}"
    )
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
# Off: mall.db_health drops connections the server closed without a `SELECT 1` per request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # services own their transactions
# Hot statements (the order path's, the payment notification's) run as server-side prepared
# statements (mall.db.execute_prepared); turn off behind a pgbouncer in transaction pooling mode.
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)
if DB_PREPARED_STATEMENTS:
    # Planned once: with `= ANY(array)` PostgreSQL's plan cache otherwise keeps planning each
    # run (it cannot price a generic plan for an array of unknown length), and planning cost more
    # than running them. Only prepared statements follow this setting, and ours are key lookups.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c plan_cache_mode=force_generic_plan"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "mall.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "zh-hans"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["members.authentication.MemberTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "mall.negotiation.ShortcutContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "mall.exception_handler.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DATETIME_FORMAT": "iso-8601",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "商城小程序 API",
    "DESCRIPTION": "Shopper API of the WeChat mini-program mall. Amounts are integer fen; "
    "errors are {code, message, detail}.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
}

# --- WeChat: base URLs point at the local simulator unless configured ---
# The embedded mode's identities are the simulator's public test values (wechat_sim/config.py);
# with DEBUG off the secrets must be set.
_EMBEDDED_APPID = "wx0000000000000001"
_EMBEDDED_SECRET = "sim-app-secret-000000000000000000"  # noqa: S105 - public test value
_EMBEDDED_MCH_ID = "1900000109"
_EMBEDDED_API_KEY = "simapikey0000000000000000000000k"
WECHAT_APPID = env.str("WECHAT_APPID", default=_EMBEDDED_APPID)
WECHAT_SECRET = _secret("WECHAT_SECRET", _EMBEDDED_SECRET)
WECHAT_MCH_ID = env.str("WECHAT_MCH_ID", default=_EMBEDDED_MCH_ID)
WECHAT_API_KEY = _secret("WECHAT_API_KEY", _EMBEDDED_API_KEY)
WECHAT_API_BASE = env.str("WECHAT_API_BASE", default="http://127.0.0.1:8700/")
WECHAT_PAY_API_BASE = env.str("WECHAT_PAY_API_BASE", default=WECHAT_API_BASE)
WECHAT_TIMEOUT_SECONDS = env.int("WECHAT_TIMEOUT_SECONDS", default=5)
# PEM paths of the merchant certificate, needed by WeChat for refunds (secapi); unset for the simulator.
WECHAT_MCH_CERT = env.str("WECHAT_MCH_CERT", default="")
WECHAT_MCH_KEY = env.str("WECHAT_MCH_KEY", default="")
# Where WeChat reaches this shop (payment and refund notifications).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
# Subscribe-message template ids, as configured in the mini-program's console.
WECHAT_TEMPLATES = {
    "order_shipped": env.str("WECHAT_TEMPLATE_ORDER_SHIPPED", default="tmpl-order-shipped"),
    "order_paid": env.str("WECHAT_TEMPLATE_ORDER_PAID", default="tmpl-order-paid"),
    "group_buy_formed": env.str("WECHAT_TEMPLATE_GROUP_BUY_FORMED", default="tmpl-group-formed"),
    "points_expiring": env.str("WECHAT_TEMPLATE_POINTS_EXPIRING", default="tmpl-points-expiring"),
    "replenish": env.str("WECHAT_TEMPLATE_REPLENISH", default="tmpl-replenish"),
    "birthday": env.str("WECHAT_TEMPLATE_BIRTHDAY", default="tmpl-birthday"),
}

# --- Celery: eager in the embedded mode, Redis otherwise ---
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}

# --- catalogue ---
CATALOG_IMAGE_MAX_BYTES = env.int("CATALOG_IMAGE_MAX_BYTES", default=10 * 1024 * 1024)
CATALOG_IMAGE_MAX_PIXELS = env.int("CATALOG_IMAGE_MAX_PIXELS", default=40_000_000)

# --- benchmarks: /_bench/ endpoints (bench/*.py turns them on; never in production) ---
BENCH_ENDPOINTS = env.bool("BENCH_ENDPOINTS", default=False)

# --- Shop rules ---
MEMBER_TOKEN_TTL_DAYS = env.int("MEMBER_TOKEN_TTL_DAYS", default=30)
SUBSCRIBE_MESSAGE_RETRY_BASE_SECONDS = env.int("SUBSCRIBE_MESSAGE_RETRY_BASE_SECONDS", default=2)

# --- orders ---
ORDER_PAYMENT_TIMEOUT = env.int("ORDER_PAYMENT_TIMEOUT", default=1800)  # seconds to pay
ORDER_AUTO_RECEIVE_DAYS = env.int("ORDER_AUTO_RECEIVE_DAYS", default=7)  # shipped → received
AFTER_SALE_DAYS = env.int("AFTER_SALE_DAYS", default=7)  # received → completed
ORDER_SWEEP_BATCH_SIZE = env.int("ORDER_SWEEP_BATCH_SIZE", default=500)
ORDER_SHIPPING_UPLOAD_RETRY_BASE_SECONDS = env.int(
    "ORDER_SHIPPING_UPLOAD_RETRY_BASE_SECONDS", default=30
)
ORDER_SHIPPING_UPLOAD_MAX_RETRIES = env.int("ORDER_SHIPPING_UPLOAD_MAX_RETRIES", default=12)
CART_MAX_ITEMS = env.int("CART_MAX_ITEMS", default=100)
# Points at checkout: POINTS_PER_YUAN points pay 1 yuan, for at most this % of what is left to pay.
POINTS_PER_YUAN = env.int("POINTS_PER_YUAN", default=100)
POINTS_MAX_DEDUCT_PERCENT = env.int("POINTS_MAX_DEDUCT_PERCENT", default=50)
CELERY_BEAT_SCHEDULE["orders-sweep"] = {"task": "orders.tasks.orders_sweep_task", "schedule": 60.0}

# --- payments ---
# Orders pending payment this long get their WeChat trades queried (lost notifications).
PAYMENT_SYNC_AFTER_SECONDS = env.int("PAYMENT_SYNC_AFTER_SECONDS", default=180)
PAYMENT_SYNC_BATCH_SIZE = env.int("PAYMENT_SYNC_BATCH_SIZE", default=200)
# An overdue order waits this long for WeChat to say whether it was paid before it is cancelled
# anyway (a payment arriving later is then refunded automatically).
PAYMENT_EXPIRY_WECHAT_GRACE_SECONDS = env.int("PAYMENT_EXPIRY_WECHAT_GRACE_SECONDS", default=600)
REFUND_RETRY_BASE_SECONDS = env.int("REFUND_RETRY_BASE_SECONDS", default=30)
REFUND_QUERY_FIRST_SECONDS = env.int("REFUND_QUERY_FIRST_SECONDS", default=15)
REFUND_SYNC_AFTER_SECONDS = env.int("REFUND_SYNC_AFTER_SECONDS", default=120)
CELERY_BEAT_SCHEDULE["payments-sync-pending"] = {
    "task": "payments.tasks.payments_sync_pending_task",
    "schedule": 120.0,
}
# A paid order's follow-ups (points, growth, coupon used, message) still due this long after the
# payment are run by the sweep (their task was lost).
PAID_FOLLOWUPS_SWEEP_AFTER_SECONDS = env.int("PAID_FOLLOWUPS_SWEEP_AFTER_SECONDS", default=60)
CELERY_BEAT_SCHEDULE["payments-paid-followups-sweep"] = {
    "task": "payments.tasks.paid_followups_sweep_task",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["payments-refunds-sync"] = {
    "task": "payments.tasks.refunds_sync_task",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["payments-reconcile"] = {  # WeChat's bill of a day is ready from 09:00
    "task": "payments.tasks.reconcile_task",
    "schedule": crontab(hour=9, minute=30),
}

# --- referral, tags, journeys, points mall ---
# Points to the inviter and the invitee when the invitee's first paid order is past after-sales.
REFERRAL_INVITER_POINTS = env.int("REFERRAL_INVITER_POINTS", default=500)
REFERRAL_INVITEE_POINTS = env.int("REFERRAL_INVITEE_POINTS", default=200)
REFERRAL_LANDING_PAGE = env.str("REFERRAL_LANDING_PAGE", default="pages/index/index")
REFERRAL_BATCH_SIZE = env.int("REFERRAL_BATCH_SIZE", default=500)
# Automatic member tags: new (registered within N days), active (paid within N days), dormant
# (last paid order more than N days ago), high value (paid in total ≥ N fen).
TAG_NEW_DAYS = env.int("TAG_NEW_DAYS", default=30)
TAG_ACTIVE_DAYS = env.int("TAG_ACTIVE_DAYS", default=30)
TAG_DORMANT_DAYS = env.int("TAG_DORMANT_DAYS", default=90)
TAG_HIGH_VALUE_FEN = env.int("TAG_HIGH_VALUE_FEN", default=100_000)
TAG_REFRESH_BATCH_SIZE = env.int("TAG_REFRESH_BATCH_SIZE", default=10_000)  # member ids per txn
# Replenish journeys look back this many days past a rule's cycle (a new rule does not reach
# years-old orders); win-back goes to members whose last paid order is WINBACK_DORMANT_DAYS old.
JOURNEY_LOOKBACK_DAYS = env.int("JOURNEY_LOOKBACK_DAYS", default=7)
JOURNEY_BATCH_SIZE = env.int("JOURNEY_BATCH_SIZE", default=1000)
WINBACK_DORMANT_DAYS = env.int("WINBACK_DORMANT_DAYS", default=90)
WINBACK_COUPON_TEMPLATE_ID = env.int("WINBACK_COUPON_TEMPLATE_ID", default=0)  # 0: off
RECOMMENDATIONS_LIMIT = env.int("RECOMMENDATIONS_LIMIT", default=10)
CELERY_BEAT_SCHEDULE["shop-tags-refresh"] = {
    "task": "shop.tasks.tags_auto_refresh_task",
    "schedule": crontab(hour=3, minute=10),
}
CELERY_BEAT_SCHEDULE["shop-journeys"] = {
    "task": "shop.tasks.journeys_run_task",
    "schedule": crontab(hour=10, minute=0),  # a reminder arrives in the morning, not at 3 am
}
CELERY_BEAT_SCHEDULE["shop-referrals-reward"] = {
    "task": "shop.tasks.referrals_reward_task",
    "schedule": 3600.0,
}

# --- flash sale (秒杀) ---
# Unpaid flash orders are cancelled after this many seconds (their units back to the flash pool);
# an admission (POST flash/items/{id}/admit) is valid this long for placing the order.
FLASH_SALE_PAYMENT_TIMEOUT = env.int("FLASH_SALE_PAYMENT_TIMEOUT", default=300)
FLASH_SALE_ADMISSION_TTL = env.int("FLASH_SALE_ADMISSION_TTL", default=120)
CELERY_BEAT_SCHEDULE["flash-counters-reconcile"] = {
    "task": "marketing.tasks.flash_sale.flash_counters_reconcile_task",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["flash-sessions-end"] = {
    "task": "marketing.tasks.flash_sale.flash_sessions_end_task",
    "schedule": 60.0,
}

# --- campaigns (满减/满折, 限时折扣, N元N件, 买赠) ---
# Pricing and the product API read live campaigns from a cache this old at most (changes made
# through the services and the admin clear it at once; windows open and close on time anyway).
CAMPAIGN_CACHE_SECONDS = env.int("CAMPAIGN_CACHE_SECONDS", default=60)

# --- group buying (拼团) ---
# Groups past their deadline and failed groups' unrefunded orders handled per sweep run.
GROUP_BUY_EXPIRE_BATCH_SIZE = env.int("GROUP_BUY_EXPIRE_BATCH_SIZE", default=200)
CELERY_BEAT_SCHEDULE["group-buys-expire"] = {
    "task": "payments.tasks.group_buys_expire_task",
    "schedule": 60.0,
}

# --- member levels, points, sign-in, task cards ---
POINTS_PER_YUAN_PAID = env.int("POINTS_PER_YUAN_PAID", default=1)  # × the level's multiplier
POINTS_EXPIRE_DAYS = env.int("POINTS_EXPIRE_DAYS", default=365)  # each lot, after it is earned
POINTS_EXPIRY_NOTICE_DAYS = env.int("POINTS_EXPIRY_NOTICE_DAYS", default=7)
POINTS_BATCH_SIZE = env.int("POINTS_BATCH_SIZE", default=500)
CELERY_BEAT_SCHEDULE["shop-points-vest"] = {
    "task": "shop.tasks.points_vest_task",
    "schedule": 3600.0,
}
CELERY_BEAT_SCHEDULE["members-points-expire"] = {
    "task": "members.tasks.points_expire_task",
    "schedule": crontab(hour=2, minute=30),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
