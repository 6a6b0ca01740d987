"""OpenAPI helpers: the error envelope, documented error codes, the member token scheme."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from .errors import FRAMEWORK_CODES, DomainError


class ErrorEnvelopeSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="stable machine-readable code, see README")
    message = serializers.CharField(help_text="human-readable message (Chinese)")
    detail = serializers.DictField(help_text="data about the error, e.g. field errors")


def errors(*codes: type[DomainError] | str) -> dict[int, OpenApiResponse]:
    """`responses=` entries for the given domain errors or framework codes, grouped by status."""
    by_status: dict[int, list[str]] = {}
    for item in codes:
        code, status = (
            (item, FRAMEWORK_CODES[item][0]) if isinstance(item, str) else (item.code, item.status)
        )
        by_status.setdefault(status, []).append(code)
    return {
        status: OpenApiResponse(ErrorEnvelopeSerializer, description="code: " + " | ".join(names))
        for status, names in by_status.items()
    }


class MemberTokenScheme(OpenApiAuthenticationExtension):
    target_class = "members.authentication.MemberTokenAuthentication"
    name = "MemberToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>` from POST /api/v1/auth/login",
        }
