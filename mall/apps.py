from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite
    from django.http import HttpRequest, HttpResponse


class MallConfig(AppConfig):
    name = "mall"
    verbose_name = "商城"

    def ready(self) -> None:
        from django.contrib import admin

        admin.site.site_header = "商城管理后台"
        admin.site.site_title = "商城管理后台"
        admin.site.index_title = "经营概览"
        _add_dashboard_to_admin_index(admin.site)
        from . import openapi  # noqa: F401  registers the token auth scheme with drf-spectacular


def _add_dashboard_to_admin_index(site: "AdminSite") -> None:
    original_index = site.index

    def index(request: "HttpRequest", extra_context: dict | None = None) -> "HttpResponse":
        from .dashboard import dashboard_figures

        return original_index(request, {"dashboard": dashboard_figures(), **(extra_context or {})})

    site.index = index  # type: ignore[method-assign]
