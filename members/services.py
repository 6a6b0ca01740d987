"""Member writes: login, API tokens, phone binding (subscribe messages: subscribe_messages)."""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from mall import wechat
from mall.errors import PhoneCodeInvalid, WechatApiError, WechatLoginFailed

from . import sql
from .authentication import token_hash
from .models import Member, MemberToken
from .referral import referral_bind
from .task_cards import task_complete, task_profile_check

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
    task_complete(member_id=member.pk, code="bind_phone")
    task_profile_check(member=member)
    return phone


def member_lock(*, member_id: int) -> bool:
    """Lock the member's row (caller inside transaction.atomic()): serialises one member's cart,
    address and order writes. False when there is no such member."""
    return sql.member_lock(member_id=member_id)
