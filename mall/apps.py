from django.apps import AppConfig


class MallConfig(AppConfig):
    name = "mall"
    verbose_name = "商城"

    def ready(self) -> None:
        from . import openapi  # noqa: F401  registers the token auth scheme with drf-spectacular
