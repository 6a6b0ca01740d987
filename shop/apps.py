from django.apps import AppConfig
from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse


class ShopConfig(AppConfig):
    """The top of the house: the site's URLs, the admin home and its dashboard, and the work
    that reads every app (journeys, automatic tags, demo data, the embedded smoke check)."""

    name = "shop"
    verbose_name = "经营"

    def ready(self) -> None:
        from django.contrib import admin

        admin.site.site_header = "商城管理后台"
        admin.site.site_title = "商城管理后台"
        admin.site.index_title = "经营概览"
        _add_dashboard_to_admin_index(admin.site)


def _add_dashboard_to_admin_index(site: AdminSite) -> None:
    original_index = site.index

    def index(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        from .dashboard import dashboard_figures  # models are ready only after ready()

        return original_index(request, {"dashboard": dashboard_figures(), **(extra_context or {})})

    site.index = index  # type: ignore[method-assign]
