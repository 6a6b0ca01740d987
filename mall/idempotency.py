"""The `Idempotency-Key` header of creating POSTs (orders, top-ups, points-mall exchanges): read
and checked in one place, documented by one OpenAPI parameter."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions
from rest_framework.request import Request

IDEMPOTENCY_KEY_MAX = 64


def idempotency_key(request: Request) -> str:
    """The request's Idempotency-Key (the client_token the service keeps unique per member).

    Raises: ValidationError (missing or longer than IDEMPOTENCY_KEY_MAX)."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX:
        raise exceptions.ValidationError(
            {"Idempotency-Key": [f"请求头 Idempotency-Key 必填，最长 {IDEMPOTENCY_KEY_MAX} 字符"]}
        )
    return key


def idempotency_key_parameter(what: str) -> OpenApiParameter:
    """The header's OpenAPI entry, e.g. idempotency_key_parameter("order attempt")."""
    return OpenApiParameter(
        "Idempotency-Key",
        OpenApiTypes.STR,
        location=OpenApiParameter.HEADER,
        required=True,
        description=f"unique per {what}, ≤ {IDEMPOTENCY_KEY_MAX} characters; reuse it on retries",
    )
