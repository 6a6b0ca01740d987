from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from catalog.api import urls as catalog_urls
from mall.errors import FRAMEWORK_CODES
from mall.health import healthz
from marketing.api import urls as marketing_urls
from members.api import urls as members_urls
from orders.api import urls as orders_urls
from payments.api import urls as payments_urls

from .bench_views import BareApi

# The apps' API patterns in one flat list: an include tried in vain costs each request an
# exception and the list of what it tried, while a pattern without converters is a string
# comparison. Tried in order: WeChat's notifications first, then by how often shoppers call
# them (browse, buy, their account, promotions).
api_v1 = [
    *payments_urls.urlpatterns,
    *catalog_urls.urlpatterns,
    *orders_urls.urlpatterns,
    *members_urls.urlpatterns,
    *marketing_urls.urlpatterns,
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("healthz", healthz, name="healthz"),
]
if settings.BENCH_ENDPOINTS:
    urlpatterns.append(path("_bench/bare", BareApi.as_view(), name="bench-bare"))
if settings.DEBUG:
    # Media from local disk in the embedded mode; beyond one machine it is object storage.
    urlpatterns.append(path("media/<path:path>", serve, {"document_root": settings.MEDIA_ROOT}))


def _json_error(code: str) -> JsonResponse:
    status, message = FRAMEWORK_CODES[code]
    return JsonResponse({"code": code, "message": message, "detail": {}}, status=status)


def handler404(request: HttpRequest, exception: Exception) -> JsonResponse:
    return _json_error("not_found")


def handler500(request: HttpRequest) -> JsonResponse:
    return _json_error("server_error")
