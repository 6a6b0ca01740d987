"""`Authorization: Token <key>` for shoppers; request.user is the Member."""

import hashlib

from django.db import connection
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from mall.db import execute_prepared, models_from_rows, select_list

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


# The active member of a live token: the id alone for hot paths, or the whole member.
_TOKEN_MEMBER = (
    f"FROM {Member._meta.db_table} m "
    f"JOIN {MemberToken._meta.db_table} t ON t.member_id = m.id "
    "WHERE t.key_hash = %s AND t.expires_at > %s AND m.is_active"
)
_MEMBER_ID_SQL = f"SELECT m.id {_TOKEN_MEMBER}"
_MEMBER_SQL = f"SELECT {select_list(Member, 'm')} {_TOKEN_MEMBER} LIMIT 1"


def _token_params(key: str) -> list[object]:
    # The time adapted as the ORM adapts it (SQLite stores naive UTC text; PostgreSQL: as is).
    return [token_hash(key), connection.ops.adapt_datetimefield_value(timezone.now())]


def member_id_for_token(key: str) -> int | None:
    """The active member a live token belongs to, as one plain statement (for hot paths that
    need only the id: building the ORM query and a Member costs more than the query)."""
    with connection.cursor() as cursor:
        execute_prepared(cursor, _MEMBER_ID_SQL, _token_params(key))
        row = cursor.fetchone()
    return row[0] if row else None


def member_for_token(key: str) -> Member | None:
    """The active member a live token belongs to. Plain SQL (the ORM's converters still
    apply): every shopper request runs it, and building the ORM query with its join cost
    twice the query itself."""
    with connection.cursor() as cursor:
        execute_prepared(cursor, _MEMBER_SQL, _token_params(key))
        row = cursor.fetchone()
    return models_from_rows(Member, [row])[0] if row else None


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
