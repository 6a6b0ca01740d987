"""`Authorization: Token <key>` for shoppers; request.user is the Member."""

import hashlib

from django.utils import timezone
from rest_framework import HTTP_HEADER_ENCODING, authentication, exceptions
from rest_framework.request import Request

from . import sql
from .models import Member


def token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_key_from_request(request: Request, keyword: str = "Token") -> str | None:
    """The key of `Authorization: <keyword> <key>`; None without that header.

    Raises: AuthenticationFailed (a malformed header)."""
    # META directly: DRF's get_authorization_header builds request.headers (every header) first.
    raw = request.META.get("HTTP_AUTHORIZATION", b"")
    if not raw:
        return None
    if isinstance(raw, str):
        raw = raw.encode(HTTP_HEADER_ENCODING)
    header = raw.split()
    if not header or header[0].lower() != keyword.lower().encode():
        return None
    if len(header) != 2:
        raise exceptions.AuthenticationFailed()
    try:
        return header[1].decode()
    except UnicodeError as exc:
        raise exceptions.AuthenticationFailed() from exc


def member_id_for_token(key: str) -> int | None:
    """The active member a live token belongs to, for hot paths that need only the id."""
    return sql.member_id_for_token_hash(key_hash=token_hash(key), now=timezone.now())


def member_for_token(key: str) -> Member | None:
    """The active member a live token belongs to (every shopper request runs it: plain SQL,
    since building the ORM query with its join cost twice the query itself)."""
    return sql.member_for_token_hash(key_hash=token_hash(key), now=timezone.now())


class MemberTokenAuthentication(authentication.BaseAuthentication):
    """request.user is the Member; request.auth is None (the token row is not needed)."""

    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[Member, None] | None:
        key = token_key_from_request(request, self.keyword)
        if key is None:
            return None
        member = member_for_token(key)
        if member is None:
            raise exceptions.AuthenticationFailed()
        return member, None

    def authenticate_header(self, request: Request) -> str:
        return self.keyword  # makes DRF answer 401, not 403, without credentials
