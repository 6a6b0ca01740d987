"""The shopper API's short way through the middleware.

The admin needs the whole MIDDLEWARE list (sessions, CSRF, login, messages, language, framing);
the shopper API under /api/v1/ is token-authenticated JSON (DRF views, all CSRF-exempt) and uses
none of it, yet that list cost it more than its own view code. Placed right after
SecurityMiddleware, ApiShortcutMiddleware sends /api/v1/ requests from there straight to the
view, adding the only headers of the skipped middleware that matter to an API client.
"""

from collections.abc import Callable

from django.conf import settings
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponseBase

# The shopper API, and the benchmarks' in-stack baseline view (mounted only for benchmarks), which
# stands for an API view.
API_PREFIXES = ("/api/v1/", "/_bench/")


class _ViewHandler(BaseHandler):
    """Django's request handling from URL resolution to the rendered response, without any
    middleware (as if MIDDLEWARE were empty)."""

    def __init__(self) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []


class ApiShortcutMiddleware:
    """/api/v1/ requests skip the middleware after this one; everything else goes through."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        # An exception in the view becomes its response here, as it would at the end of the
        # full chain (handler404/handler500, logged the same way).
        self.view_response = convert_exception_to_response(_ViewHandler()._get_response)
        self.frame_options = getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path_info.startswith(API_PREFIXES):
            return self.get_response(request)
        response = self.view_response(request)
        # What CommonMiddleware and XFrameOptionsMiddleware would have added.
        if not response.streaming and "Content-Length" not in response:
            response.headers["Content-Length"] = str(len(response.content))
        if "X-Frame-Options" not in response:
            response.headers["X-Frame-Options"] = self.frame_options
        return response
