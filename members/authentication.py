"""`Authorization: Token <key>` for shoppers; request.user is the Member."""

import hashlib

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .models import Member, MemberToken


def token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class MemberTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[Member, MemberToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed()
        try:
            key = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed() from exc
        token = (
            MemberToken.objects.select_related("member")
            .filter(key_hash=token_hash(key), expires_at__gt=timezone.now(), member__is_active=True)
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed()
        return token.member, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword  # makes DRF answer 401, not 403, without credentials
