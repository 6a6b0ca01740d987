"""`Authorization: Token <key>` for shoppers; request.user is the Member."""

import hashlib

from django.db import connection
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .models import Member, MemberToken


def token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_key_from_request(request: Request, keyword: str = "Token") -> str | None:
    """The key of `Authorization: <keyword> <key>`; None without that header.

    Raises: AuthenticationFailed (a malformed header)."""
    header = authentication.get_authorization_header(request).split()
    if not header or header[0].lower() != keyword.lower().encode():
        return None
    if len(header) != 2:
        raise exceptions.AuthenticationFailed()
    try:
        return header[1].decode()
    except UnicodeError as exc:
        raise exceptions.AuthenticationFailed() from exc


_MEMBER_ID_SQL = (
    f"SELECT t.member_id FROM {MemberToken._meta.db_table} t "  # noqa: S608  (the models' tables)
    f"JOIN {Member._meta.db_table} m ON m.id = t.member_id "
    "WHERE t.key_hash = %s AND t.expires_at > %s AND m.is_active"
)


def member_id_for_token(key: str) -> int | None:
    """The active member a live token belongs to, as one plain statement (for hot paths that
    need only the id: building the ORM query and a Member costs more than the query)."""
    with connection.cursor() as cursor:
        # Adapted like the ORM does (SQLite stores naive UTC text; PostgreSQL: unchanged).
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        cursor.execute(_MEMBER_ID_SQL, [token_hash(key), now])
        row = cursor.fetchone()
    return row[0] if row else None


_MEMBER_SQL = (
    f"SELECT m.* FROM {Member._meta.db_table} m "  # noqa: S608  (the models' tables)
    f"JOIN {MemberToken._meta.db_table} t ON t.member_id = m.id "
    "WHERE t.key_hash = %s AND t.expires_at > %s AND m.is_active LIMIT 1"
)


def member_for_token(key: str) -> Member | None:
    """The active member a live token belongs to. A raw query (the ORM's converters still
    apply): every shopper request runs it, and building the ORM query with its join cost
    twice the query itself."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())  # as the ORM adapts it
    members = Member.objects.raw(_MEMBER_SQL, [token_hash(key), now])
    return next(iter(members), None)


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
