import time

import pytest
from django.db import transaction

from members.models import Member, SubscribeMessage
from members.subscribe_messages import subscribe_message_queue

SEND_PATH = "/cgi-bin/message/subscribe/send"


@pytest.fixture
def shopper(wechat_sim, member_login):
    member_id, _ = member_login("o-subscriber")
    return Member.objects.get(pk=member_id)


def _queue(member, key="order_shipped"):
    with transaction.atomic():
        return subscribe_message_queue(
            member=member,
            template_key=key,
            data={"thing1": {"value": "您的订单已发货"}},
            page="pages/order/detail",
        )


@pytest.mark.django_db
def test_message_is_queued_only_after_commit(
    shopper, wechat_sim, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = _queue(shopper)
    assert len(callbacks) == 1
    assert wechat_sim.messages() == []  # nothing sent before the commit ran the callback
    callbacks[0]()
    message.refresh_from_db()
    assert message.status == SubscribeMessage.Status.SENT
    assert wechat_sim.messages("o-subscriber")[0]["template_id"] == "tmpl-order-shipped"


@pytest.mark.django_db
def test_dedup_key_sends_once(shopper, wechat_sim, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            subscribe_message_queue(
                member=shopper,
                template_key="order_paid",
                data={"thing1": {"value": "x"}},
                dedup_key="paid:1",
            )
    assert len(wechat_sim.messages("o-subscriber")) == 1


@pytest.fixture
def real_worker(settings, real_worker):
    settings.SUBSCRIBE_MESSAGE_RETRY_BASE_SECONDS = 0


def _wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
def test_real_worker_sends_the_message(shopper, wechat_sim, real_worker):
    message = _queue(shopper)
    assert _wait_for(lambda: SubscribeMessage.objects.get(pk=message.pk).status == "sent")
    assert [m["data"] for m in wechat_sim.messages("o-subscriber")] == [
        {"thing1": {"value": "您的订单已发货"}}
    ]


@pytest.mark.django_db(transaction=True)
def test_real_worker_retries_a_busy_wechat(shopper, wechat_sim, real_worker):
    wechat_sim.inject_error(SEND_PATH, -1, times=2, errmsg="system error")
    message = _queue(shopper)
    assert _wait_for(lambda: SubscribeMessage.objects.get(pk=message.pk).status == "sent")
    assert wechat_sim.request_count(SEND_PATH) == 3
    assert SubscribeMessage.objects.get(pk=message.pk).attempts == 3


@pytest.mark.django_db(transaction=True)
def test_real_worker_does_not_retry_a_refusal(shopper, wechat_sim, real_worker):
    wechat_sim.inject_error(SEND_PATH, 43101, times=5, errmsg="user refuse to accept the msg")
    message = _queue(shopper)
    assert _wait_for(lambda: SubscribeMessage.objects.get(pk=message.pk).status == "refused")
    time.sleep(0.5)  # a (wrong) retry would have happened by now with a zero countdown
    assert wechat_sim.request_count(SEND_PATH) == 1
    assert wechat_sim.messages("o-subscriber") == []
