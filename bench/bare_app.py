"""The truly bare baseline: a one-file Django + DRF application outside our project.

    .venv/bin/gunicorn bench.bare_app:application --workers 2     # what bench/common.py runs
    .venv/bin/python bench/bare_app.py check                       # any manage.py command

Its own minimal settings, configured here (none of mall.settings): no middleware, no installed
apps, no authentication, permission or throttle classes, the JSON renderer only, and one view
answering GET / with one `SELECT 1` through `connection.cursor()` on a persistent connection
(CONN_MAX_AGE=None) to the benchmark's PostgreSQL database (BARE_DATABASE_URL, else
DATABASE_URL). It is the ceiling a DRF endpoint making one round trip can reach on this machine;
the benchmarks print their figures as ratios to it beside the in-stack /_bench/bare.
"""

import os
import sys
from urllib.parse import unquote, urlsplit

import django
from django.conf import settings
from django.db import connection
from django.urls import path

_URL = urlsplit(
    os.environ.get("BARE_DATABASE_URL")
    or os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mall_bench")
)

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-bare-app-only",  # noqa: S106 - nothing here is signed
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    USE_TZ=True,
    LOGGING_CONFIG=None,
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(_URL.path.lstrip("/")),
            "USER": unquote(_URL.username or ""),
            "PASSWORD": unquote(_URL.password or ""),
            "HOST": _URL.hostname or "",
            "PORT": str(_URL.port or ""),
            "CONN_MAX_AGE": None,  # one connection per worker for its whole life
        }
    },
    REST_FRAMEWORK={
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
        "DEFAULT_AUTHENTICATION_CLASSES": [],
        "DEFAULT_PERMISSION_CLASSES": [],
        "DEFAULT_THROTTLE_CLASSES": [],
        "UNAUTHENTICATED_USER": None,  # django.contrib.auth is not installed
        "UNAUTHENTICATED_TOKEN": None,
        "DEFAULT_VERSIONING_CLASS": None,
        "DEFAULT_SCHEMA_CLASS": None,
    },
)
django.setup()

# DRF reads its settings at import: after settings.configure().
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402


class SelectOne(APIView):
    """One round trip to PostgreSQL, rendered as JSON."""

    def get(self, request: Request) -> Response:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            (one,) = cursor.fetchone()
        return Response({"ok": True, "one": one})


urlpatterns = [path("", SelectOne.as_view())]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
