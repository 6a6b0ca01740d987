from django.apps import AppConfig


class MallConfig(AppConfig):
    name = "mall"
    verbose_name = "商城"

    def ready(self) -> None:
        from django.contrib import admin

        admin.site.site_header = "商城管理后台"
        admin.site.site_title = "商城管理后台"
        admin.site.index_title = "经营概览"
        from . import openapi  # noqa: F401  registers the token auth scheme with drf-spectacular
