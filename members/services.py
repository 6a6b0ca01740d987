"""Member writes: login, phone binding, subscribe messages."""

import json
import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from mall import wechat
from mall.errors import PhoneCodeInvalid, WechatApiError, WechatLoginFailed

from .authentication import token_hash
from .models import Member, MemberToken, SubscribeMessage

logger = logging.getLogger(__name__)

LOGIN_CODE_ERRCODES = {
    wechat.ERRCODE_INVALID_CODE,
    wechat.ERRCODE_CODE_USED,
    wechat.ERRCODE_MISSING_CODE,
}


def member_login(*, code: str, inviter: str = "") -> tuple[Member, str]:
    """Exchange a wx.login code for a member and a new API token. `inviter` (an invite code or
    scene) is bound at the member's first login only (members.referral.referral_bind).

    Raises: WechatLoginFailed (bad or used code), WechatUnavailable.
    """
    try:
        session = wechat.code_to_session(code)  # network call: outside any transaction
    except WechatApiError as exc:
        if exc.errcode in LOGIN_CODE_ERRCODES:
            raise WechatLoginFailed(errcode=exc.errcode) from exc
        raise
    member, created = _member_upsert(
        openid=session.openid, unionid=session.unionid, session_key=session.session_key
    )
    if created and inviter:
        from .referral import referral_bind

        referral_bind(invitee=member, inviter_code=inviter)
    return member, member_token_issue(member=member)


def _member_upsert(*, openid: str, unionid: str | None, session_key: str) -> tuple[Member, bool]:
    now = timezone.now()
    for _ in range(2):  # two first logins of one openid race on the unique constraint
        with transaction.atomic():
            member = Member.objects.select_for_update().filter(openid=openid).first()
            if member is None and unionid:
                member = Member.objects.select_for_update().filter(unionid=unionid).first()
            if member is not None:
                member.session_key, member.last_login_at = session_key, now
                if unionid and not member.unionid:
                    member.unionid = unionid
                member.save(update_fields=["session_key", "last_login_at", "unionid"])
                return member, False
            try:
                with transaction.atomic():
                    created = Member.objects.create(
                        openid=openid,
                        unionid=unionid or None,
                        session_key=session_key,
                        last_login_at=now,
                    )
                    return created, True
            except IntegrityError:
                continue
    return Member.objects.get(openid=openid), False


def member_token_issue(*, member: Member) -> str:
    key = secrets.token_urlsafe(32)
    MemberToken.objects.create(
        member=member,
        key_hash=token_hash(key),
        expires_at=timezone.now() + timedelta(days=settings.MEMBER_TOKEN_TTL_DAYS),
    )
    return key


def member_phone_bind(*, member: Member, code: str) -> str:
    """Bind the phone number behind a getPhoneNumber code.

    Raises: PhoneCodeInvalid, WechatUnavailable.
    """
    try:
        phone = wechat.phone_number(code)
    except WechatApiError as exc:
        if exc.errcode in LOGIN_CODE_ERRCODES:
            raise PhoneCodeInvalid(errcode=exc.errcode) from exc
        raise
    Member.objects.filter(pk=member.pk).update(phone=phone)
    member.phone = phone
    from .task_cards import task_complete, task_profile_check

    task_complete(member_id=member.pk, code="bind_phone")
    task_profile_check(member=member)
    return phone


# --- subscribe messages (订阅消息) ---


def subscribe_message_queue(
    *,
    member: Member,
    template_key: str,
    data: dict[str, Any],
    page: str = "",
    dedup_key: str | None = None,
) -> SubscribeMessage | None:
    """Record a message and send it from a worker after the caller's transaction commits.

    With a dedup_key (e.g. "shipped:<order no>") a repeated call queues nothing.
    """
    from .tasks import subscribe_message_send_task

    if dedup_key and SubscribeMessage.objects.filter(dedup_key=dedup_key).exists():
        return None
    try:
        with transaction.atomic():
            message = SubscribeMessage.objects.create(
                member=member, template_key=template_key, data=data, page=page, dedup_key=dedup_key
            )
    except IntegrityError:
        return None  # a concurrent caller recorded the same message
    transaction.on_commit(lambda: subscribe_message_send_task.delay(message.pk))
    return message


SUBSCRIBE_MESSAGES_PER_TASK = 500
_MESSAGES_INSERT_SQL = """
INSERT INTO members_subscribemessage
    (member_id, template_key, page, data, dedup_key, status, attempts, last_error, created_at)
SELECT m, t, p, d::jsonb, k, 'pending', 0, '', %s
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[]) AS x(m, t, p, d, k)
ON CONFLICT (dedup_key) DO NOTHING
RETURNING id
"""


def subscribe_messages_queue_many(*, messages: Sequence[dict[str, Any]]) -> list[int]:
    """subscribe_message_queue for many messages in one statement (batch jobs: journeys); each
    dict has member_id, template_key, data, page, dedup_key. A dedup_key recorded before is
    skipped. Returns the ids recorded; they are sent by workers after the caller commits."""
    from .tasks import subscribe_messages_send_batch_task

    if not messages:
        return []
    if connection.vendor != "postgresql":  # unnest(arrays) is PostgreSQL's
        ids = _subscribe_messages_insert_portable(messages)
    else:
        ids = _subscribe_messages_insert(messages)

    def enqueue() -> None:
        # One task per chunk, not per message: publishing is the cost of a batch job here.
        for start in range(0, len(ids), SUBSCRIBE_MESSAGES_PER_TASK):
            subscribe_messages_send_batch_task.delay(
                ids[start : start + SUBSCRIBE_MESSAGES_PER_TASK]
            )

    transaction.on_commit(enqueue)
    return ids


def _subscribe_messages_insert(messages: Sequence[dict[str, Any]]) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            _MESSAGES_INSERT_SQL,
            [
                timezone.now(),
                [m["member_id"] for m in messages],
                [m["template_key"] for m in messages],
                [m.get("page", "") for m in messages],
                [json.dumps(m["data"], ensure_ascii=False) for m in messages],
                [m.get("dedup_key") for m in messages],
            ],
        )
        return [row[0] for row in cursor.fetchall()]


def _subscribe_messages_insert_portable(messages: Sequence[dict[str, Any]]) -> list[int]:
    """The same rows one INSERT each (the embedded mode's SQLite); a dedup_key recorded before
    is skipped, the unique index still the judge."""
    ids = []
    for m in messages:
        try:
            with transaction.atomic():
                message = SubscribeMessage.objects.create(
                    member_id=m["member_id"],
                    template_key=m["template_key"],
                    data=m["data"],
                    page=m.get("page", ""),
                    dedup_key=m.get("dedup_key"),
                )
        except IntegrityError:
            continue
        ids.append(message.pk)
    return ids


class SubscribeMessageRetryableError(Exception):
    """WeChat was busy; the task retries with backoff."""


def subscribe_message_send(*, message_id: int) -> str:
    """Send one recorded message; safe to run twice (a re-delivered task finds it claimed or sent).

    Raises: SubscribeMessageRetryableError when WeChat is busy or unreachable.
    """
    from mall.errors import WechatUnavailable

    claimed = SubscribeMessage.objects.filter(
        pk=message_id, status=SubscribeMessage.Status.PENDING
    ).update(status=SubscribeMessage.Status.SENDING, attempts=F("attempts") + 1)
    if not claimed:
        return "skipped"
    message = SubscribeMessage.objects.select_related("member").get(pk=message_id)
    template_id = settings.WECHAT_TEMPLATES.get(message.template_key, message.template_key)
    try:
        wechat.subscribe_message_send(
            openid=message.member.openid,
            template_id=template_id,
            data=message.data,
            page=message.page or None,
        )
    except WechatApiError as exc:
        if exc.errcode == wechat.ERRCODE_SYSTEM_BUSY:
            _subscribe_message_release(message, f"{exc.errcode} {exc.errmsg}")
            raise SubscribeMessageRetryableError(exc.errmsg) from exc
        # 43101 (user refused or no subscription left) and other errcodes: retrying cannot help.
        status = (
            SubscribeMessage.Status.REFUSED
            if exc.errcode == wechat.ERRCODE_USER_REFUSED
            else SubscribeMessage.Status.FAILED
        )
        SubscribeMessage.objects.filter(pk=message_id).update(
            status=status, last_error=f"{exc.errcode} {exc.errmsg}"[:200]
        )
        return status
    except WechatUnavailable as exc:
        _subscribe_message_release(message, "unreachable")
        raise SubscribeMessageRetryableError("unreachable") from exc
    SubscribeMessage.objects.filter(pk=message_id).update(
        status=SubscribeMessage.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    return SubscribeMessage.Status.SENT


def _subscribe_message_release(message: SubscribeMessage, error: str) -> None:
    SubscribeMessage.objects.filter(pk=message.pk, status=SubscribeMessage.Status.SENDING).update(
        status=SubscribeMessage.Status.PENDING, last_error=error[:200]
    )


def subscribe_message_give_up(*, message_id: int) -> None:
    SubscribeMessage.objects.filter(pk=message_id, status=SubscribeMessage.Status.PENDING).update(
        status=SubscribeMessage.Status.FAILED
    )
