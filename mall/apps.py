from celery.signals import task_prerun
from django.apps import AppConfig
from django.core.signals import request_started

from .db_health import connections_drop_closed_by_server


class MallConfig(AppConfig):
    name = "mall"
    verbose_name = "商城"

    def ready(self) -> None:
        from . import openapi  # noqa: F401  registers the token auth scheme with drf-spectacular

        request_started.connect(connections_drop_closed_by_server)
        task_prerun.connect(connections_drop_closed_by_server)
