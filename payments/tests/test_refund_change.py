"""WeChat's CHANGE (退款异常: the money did not reach the shopper's card): the refund is marked
`change`, shown and counted for the merchant, and can be re-submitted with a new out_refund_no
when WeChat allows it."""

import pytest

from mall.errors import RefundNotRetryable
from payments.models import Refund
from payments.services import RefundLineInput, refund_change_retry
from payments.tests.conftest import pay_and_settle, place_order, refund_and_settle, wechat_ledger
from shop.dashboard import dashboard_figures

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_order(shopper, sku, wechat_sim, sim_pay, instant_refunds):
    order = place_order(shopper.member, [(sku, 3)])
    pay_and_settle(shopper, order, sim_pay)
    return order


def change_refund(capture, order, wechat_sim, quantity: int | None) -> Refund:
    wechat_sim.control("POST", "faults", json={"refund_result": "CHANGE"})
    line = order.lines.get()
    refund = refund_and_settle(
        capture,
        order_id=order.pk,
        lines=None if quantity is None else [RefundLineInput(order_line_id=line.pk, quantity=1)],
        reason="退货",
        requested_by="admin:boss",
        restock=False,
    )
    wechat_sim.control("POST", "faults", json={"refund_result": "SUCCESS"})
    assert refund.status == "change"
    return refund


def test_a_change_refund_is_labelled_filtered_and_counted(
    admin_client, paid_order, wechat_sim, django_capture_on_commit_callbacks
):
    # given
    refund = change_refund(django_capture_on_commit_callbacks, paid_order, wechat_sim, None)
    # when
    listing = admin_client.get("/admin/payments/refund/?status__exact=change")
    index = admin_client.get("/admin/")
    # then
    html = listing.content.decode()
    assert refund.out_refund_no in html
    assert "退款异常，需人工处理" in html
    assert dashboard_figures()["refunds_change"] == 1
    assert index.context["dashboard"]["refunds_change"] == 1
    assert "退款异常，需人工处理" in index.content.decode()
    assert "?status__exact=change" in index.content.decode()
    line = paid_order.lines.get()
    assert line.refunded_quantity == 0  # nothing counts as refunded


def test_a_retry_wechat_refuses_is_closed_and_the_change_stays_for_a_person(
    admin_client, paid_order, wechat_sim, django_capture_on_commit_callbacks
):
    # given: the whole payment is in CHANGE, WeChat counts it as refunded (NOTENOUGH)
    refund = change_refund(django_capture_on_commit_callbacks, paid_order, wechat_sim, None)
    # when: the merchant's action
    response = admin_client.post(
        "/admin/payments/refund/",
        {"action": "retry_change", "_selected_action": [refund.pk]},
        follow=True,
    )
    # then
    assert "微信不接受重新提交" in response.content.decode()
    retry = Refund.objects.get(retry_of=refund)
    assert retry.out_refund_no == f"{refund.out_refund_no}-R"
    assert (retry.status, retry.last_error[:9]) == ("closed", "NOTENOUGH")
    refund.refresh_from_db()
    assert refund.status == "change"
    assert dashboard_figures()["refunds_change"] == 1
    # a second click does nothing new
    assert refund_change_retry(refund_id=refund.pk, actor="admin:boss").pk == retry.pk
    assert Refund.objects.filter(order=paid_order).count() == 2


def test_a_retry_wechat_takes_replaces_the_change_refund(
    paid_order, wechat_sim, django_capture_on_commit_callbacks
):
    # given: one unit of three in CHANGE, so WeChat still has room for a re-submission
    refund = change_refund(django_capture_on_commit_callbacks, paid_order, wechat_sim, 1)
    # when
    retry = refund_change_retry(refund_id=refund.pk, actor="admin:boss")
    from payments.services import refund_query_sync

    refund_query_sync(refund_id=retry.pk)
    # then
    retry.refresh_from_db()
    refund.refresh_from_db()
    assert (retry.retry_of_id, retry.amount_fen) == (refund.pk, refund.amount_fen)
    assert (refund.status, retry.status) == ("closed", "success")
    assert f"已重新提交为 {retry.out_refund_no}" in refund.last_error
    line = paid_order.lines.get()
    assert (line.refunded_quantity, line.refunded_fen) == (1, retry.amount_fen)
    assert wechat_ledger(paid_order) == [
        ("wechat_payment", "in", paid_order.wechat_pay_fen),
        ("wechat_refund", "out", retry.amount_fen),
    ]
    assert dashboard_figures()["refunds_change"] == 0
    with pytest.raises(RefundNotRetryable):
        refund_change_retry(refund_id=retry.pk, actor="admin:boss")
