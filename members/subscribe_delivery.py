"""Subscribe messages (订阅消息), the worker's side: sending one recorded message to WeChat.

Below subscribe_tasks (which runs it) and subscribe_messages (which records and queues): a
service that queues a task never sits below the code that task runs, so no module cycle.
"""

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from mall import wechat
from mall.errors import WechatApiError, WechatUnavailable

from .models import SubscribeMessage


class SubscribeMessageRetryableError(Exception):
    """WeChat was busy; the task retries with backoff."""


def subscribe_message_send(*, message_id: int) -> str:
    """Send one recorded message; safe to run twice (a re-delivered task finds it claimed or sent).

    Raises: SubscribeMessageRetryableError when WeChat is busy or unreachable.
    """
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
