"""One envelope for every API error: {"code", "message", "detail"}."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import FRAMEWORK_CODES, DomainError

logger = logging.getLogger(__name__)


def _as_drf_exception(exc: Exception) -> Exception:
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    return exc


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, DomainError):
        if exc.status >= 500:
            logger.warning("domain error %s: %s %s", exc.code, exc.message, exc.detail)
        return Response(
            {"code": exc.code, "message": exc.message, "detail": exc.detail}, status=exc.status
        )
    exc = _as_drf_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        # A real bug: log it with its traceback (reaches Sentry through logging), answer JSON.
        logger.error("unhandled API exception", exc_info=exc)
        status, message = FRAMEWORK_CODES["server_error"]
        return Response({"code": "server_error", "message": message, "detail": {}}, status=status)
    assert isinstance(exc, exceptions.APIException)  # noqa: S101  drf handler only answers these
    if isinstance(exc, exceptions.ValidationError):
        code, detail = "invalid", response.data
    else:
        code, detail = exc.default_code, {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            detail = {"wait_seconds": int(exc.wait)}
    message = FRAMEWORK_CODES.get(code, (response.status_code, str(exc.detail)))[1]
    response.data = {"code": code, "message": message, "detail": detail}
    return response
