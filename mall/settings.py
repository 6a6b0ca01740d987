"""Settings, all from environment variables (README lists them).

With nothing configured this is the embedded mode of `make run`: SQLite, an in-memory cache,
Celery tasks run eagerly in the web process, WeChat is the local simulator. With DEBUG off the
secrets have no default, so a production process missing one fails at boot.
"""

from pathlib import Path

import environ
from celery.schedules import crontab

from wechat_sim.config import DEFAULT_API_KEY, DEFAULT_APPID, DEFAULT_MCH_ID, DEFAULT_SECRET

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
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mall.urls"
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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # services own their transactions
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
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
WECHAT_APPID = env.str("WECHAT_APPID", default=DEFAULT_APPID)
WECHAT_SECRET = _secret("WECHAT_SECRET", DEFAULT_SECRET)
WECHAT_MCH_ID = env.str("WECHAT_MCH_ID", default=DEFAULT_MCH_ID)
WECHAT_API_KEY = _secret("WECHAT_API_KEY", DEFAULT_API_KEY)
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
# Discount providers applied in this order by orders.pricing.price_cart (dotted paths to classes
# or objects with `key`, `load(*, member, lines, now)` and `apply(*, lines, loaded, goods_left_fen)`).
ORDER_DISCOUNT_PROVIDERS: list[str] = []
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
CELERY_BEAT_SCHEDULE["payments-refunds-sync"] = {
    "task": "payments.tasks.refunds_sync_task",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["payments-reconcile"] = {  # WeChat's bill of a day is ready from 09:00
    "task": "payments.tasks.reconcile_task",
    "schedule": crontab(hour=9, minute=30),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
