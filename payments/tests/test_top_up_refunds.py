"""Refunding a stored-value top-up (充值退款): the amount goes back through WeChat, amount + bonus
leave the balance in the transaction that starts the refund, a spent balance is refused, a second
click does nothing new; a second paid attempt of a top-up is refunded automatically."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q, Sum
from django.utils import timezone

from mall.errors import TopUpBalanceSpent, TopUpNotRefundable
from members.models import Member
from members.stored_value import stored_value_debit
from payments.models import LedgerEntry, PaymentAttempt, Refund, TopUp, TopUpTier
from payments.services import payment_attempts_sync, refund_query_sync, top_up_refund
from payments.tests.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def top_up(shopper, amount_fen: int, key: str) -> dict:
    response = shopper.client.post(
        "/api/v1/balance/top-ups",
        {"amount_fen": amount_fen},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert response.status_code == 200, response.content
    return response.json()


def balance_of(member: Member) -> int:
    return Member.objects.values_list("balance_fen", flat=True).get(pk=member.pk)


def balance_from_ledger(member: Member) -> int:
    rows = LedgerEntry.objects.filter(member=member, channel="balance").aggregate(
        given=Sum("amount_fen", filter=Q(direction="in")),
        taken=Sum("amount_fen", filter=Q(direction="out")),
    )
    return (rows["given"] or 0) - (rows["taken"] or 0)


@pytest.fixture
def paid_top_up(shopper, wechat_sim, sim_pay):
    """充100送10, paid; its notification goes nowhere, the sync beat settles it."""
    TopUpTier.objects.create(threshold_fen=10000, bonus_fen=1000)
    answer = top_up(shopper, 10000, "tu-refund")
    sim_pay(answer)
    payment_attempts_sync(older_than_seconds=0)
    row = TopUp.objects.get(no=answer["top_up"]["no"])
    assert (row.status, balance_of(shopper.member)) == ("paid", 11000)
    return row


def test_a_top_up_refund_goes_back_through_wechat_and_claws_back_the_bonus(
    shopper, callbacks, sim_pay, sim_quiet, wechat_sim, admin_client
):
    # given: 充100送10 paid over real HTTP (notification to the live server)
    TopUpTier.objects.create(threshold_fen=10000, bonus_fen=1000)
    answer = top_up(shopper, 10000, "tu-e2e")
    payment = sim_pay(answer)
    wait_until(lambda: balance_of(shopper.member) == 11000, what="the top-up to be credited")
    row = TopUp.objects.get(no=answer["top_up"]["no"])
    # when: the merchant's admin action
    response = admin_client.post(
        "/admin/payments/topup/",
        {"action": "refund_top_up", "_selected_action": [row.pk]},
        follow=True,
    )
    # then: the balance is taken at once, WeChat refunds, its notification (encrypted req_info)
    # settles the refund
    assert response.status_code == 200
    assert "已申请退款" in response.content.decode()
    assert balance_of(shopper.member) == 0
    refund = Refund.objects.get(top_up=row)
    assert (refund.order_id, refund.amount_fen, refund.wechat_fen) == (None, 10000, 10000)
    wait_until(
        lambda: Refund.objects.get(pk=refund.pk).status == "success", what="the refund notify"
    )
    sim_quiet()
    row.refresh_from_db()
    assert row.status == "refunded"
    refund_notes = wechat_sim.control("GET", "notifications", params={"kind": "refund"})["results"]
    assert refund_notes
    assert all(n["answered_success"] for n in refund_notes)
    trade = wechat_sim.control("GET", "trades", params={"out_trade_no": f"{row.no}P1"})["results"]
    assert [(r["out_refund_no"], r["status"]) for r in trade[0]["refunds"]] == [
        (refund.out_refund_no, "SUCCESS")
    ]
    rows = LedgerEntry.objects.filter(member=shopper.member).order_by("id")
    assert list(rows.values_list("kind", "direction", "channel", "amount_fen")) == [
        ("wechat_payment", "in", "wechat", 10000),
        ("balance_top_up", "in", "balance", 10000),
        ("balance_bonus", "in", "balance", 1000),
        ("balance_top_up_refund", "out", "balance", 10000),
        ("balance_bonus_clawback", "out", "balance", 1000),
        ("wechat_refund", "out", "wechat", 10000),
    ]
    assert rows.get(kind="wechat_refund").external_key == f"wxrefund:{refund.out_refund_no}"
    assert payment["transaction_id"] in rows.get(kind="wechat_payment").external_key
    assert balance_from_ledger(shopper.member) == balance_of(shopper.member) == 0
    # and a second click does nothing new
    admin_client.post(
        "/admin/payments/topup/", {"action": "refund_top_up", "_selected_action": [row.pk]}
    )
    assert Refund.objects.filter(top_up=row).count() == 1
    assert balance_of(shopper.member) == 0
    # the refund page shows where it belongs
    page = admin_client.get(f"/admin/payments/refund/{refund.pk}/change/")
    assert page.status_code == 200
    assert row.no in page.content.decode()
    assert admin_client.get("/admin/payments/refund/").status_code == 200


def test_a_top_up_whose_balance_was_partly_spent_is_refused_and_nothing_changes(
    shopper, paid_top_up
):
    # given: the shopper spent 5 yuan of the 110
    stored_value_debit(member_id=shopper.member.pk, amount_fen=500, reference="spent")
    ledger_before = LedgerEntry.objects.count()
    # when
    with pytest.raises(TopUpBalanceSpent) as refused:
        top_up_refund(top_up_id=paid_top_up.pk, actor="admin:boss")
    # then
    assert refused.value.code == "top_up_balance_spent"
    assert refused.value.status == 409
    assert refused.value.detail["balance_fen"] == 10500
    assert refused.value.detail["needed_fen"] == 11000
    assert balance_of(shopper.member) == 10500
    paid_top_up.refresh_from_db()
    assert paid_top_up.status == "paid"
    assert not Refund.objects.filter(top_up=paid_top_up).exists()
    assert LedgerEntry.objects.count() == ledger_before


def test_a_pending_top_up_is_not_refundable(shopper, wechat_sim):
    answer = top_up(shopper, 3000, "tu-pending")
    with pytest.raises(TopUpNotRefundable):
        top_up_refund(top_up_id=TopUp.objects.get(no=answer["top_up"]["no"]).pk, actor="admin:boss")


def test_double_clicks_in_parallel_refund_once_and_debit_once(
    shopper, paid_top_up, wechat_sim, instant_refunds
):
    # given
    clicks = 6
    start = threading.Barrier(clicks)

    def click(_: int) -> int:
        start.wait()
        try:
            return top_up_refund(top_up_id=paid_top_up.pk, actor="admin:boss").pk
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=clicks) as pool:
        refund_ids = set(pool.map(click, range(clicks)))
    # then
    assert len(refund_ids) == 1
    assert Refund.objects.filter(top_up=paid_top_up).count() == 1
    assert balance_of(shopper.member) == 0
    assert LedgerEntry.objects.filter(kind="balance_bonus_clawback").count() == 1
    refund_query_sync(refund_id=refund_ids.pop())
    paid_top_up.refresh_from_db()
    assert paid_top_up.status == "refunded"
    assert LedgerEntry.objects.filter(kind="wechat_refund").count() == 1
    assert balance_from_ledger(shopper.member) == 0


def test_a_closed_top_up_refund_gives_the_balance_back_and_may_be_asked_again(
    shopper, paid_top_up, wechat_sim, instant_refunds
):
    # given: WeChat closes the refund (REFUNDCLOSE)
    wechat_sim.control("POST", "faults", json={"refund_result": "REFUNDCLOSE"})
    closed = top_up_refund(top_up_id=paid_top_up.pk, actor="admin:boss")
    assert balance_of(shopper.member) == 0
    # when
    refund_query_sync(refund_id=closed.pk)
    # then: amount + bonus are back, and the top-up can be refunded again
    closed.refresh_from_db()
    paid_top_up.refresh_from_db()
    assert (closed.status, paid_top_up.status) == ("closed", "paid")
    assert balance_of(shopper.member) == 11000 == balance_from_ledger(shopper.member)
    wechat_sim.control("POST", "faults", json={"refund_result": "SUCCESS"})
    again = top_up_refund(top_up_id=paid_top_up.pk, actor="admin:boss")
    refund_query_sync(refund_id=again.pk)
    again.refresh_from_db()
    assert (again.out_refund_no, again.status) == (f"R{paid_top_up.no}-2", "success")
    assert balance_of(shopper.member) == 0 == balance_from_ledger(shopper.member)


def test_a_top_up_refund_in_change_keeps_the_balance_taken(
    shopper, paid_top_up, wechat_sim, instant_refunds
):
    wechat_sim.control("POST", "faults", json={"refund_result": "CHANGE"})
    refund = top_up_refund(top_up_id=paid_top_up.pk, actor="admin:boss")
    refund_query_sync(refund_id=refund.pk)
    refund.refresh_from_db()
    paid_top_up.refresh_from_db()
    assert (refund.status, paid_top_up.status) == ("change", "refunding")
    assert balance_of(shopper.member) == 0 == balance_from_ledger(shopper.member)
    assert top_up_refund(top_up_id=paid_top_up.pk, actor="admin:boss").pk == refund.pk


def test_a_second_paid_attempt_of_a_top_up_is_refunded_automatically_never_credited(
    shopper, wechat_sim, sim_pay, instant_refunds
):
    # given: the first prepay ran out before the shopper paid it, a second attempt was made,
    # and the shopper ends up paying both (the first through an old payment sheet)
    first = top_up(shopper, 2000, "tu-twice")
    PaymentAttempt.objects.filter(top_up__no=first["top_up"]["no"]).update(
        prepay_expires_at=timezone.now() - timedelta(minutes=1)
    )
    second = top_up(shopper, 2000, "tu-twice")
    assert second["request_payment"]["package"] != first["request_payment"]["package"]
    sim_pay(first)
    sim_pay(second)
    # when: the notifications were lost; the beat finds both payments (twice: idempotent)
    payment_attempts_sync(older_than_seconds=0)
    payment_attempts_sync(older_than_seconds=0)
    # then: credited once, the surplus attempt refunded through WeChat
    row = TopUp.objects.get(no=first["top_up"]["no"])
    assert row.status == "paid"
    assert balance_of(shopper.member) == 2000
    attempts = list(PaymentAttempt.objects.filter(top_up=row).order_by("seq"))
    assert [a.status for a in attempts] == ["paid", "paid"]
    refund = Refund.objects.get(top_up=row)
    assert (refund.is_automatic, refund.attempt_id, refund.order_id) == (True, attempts[1].pk, None)
    assert refund.out_refund_no == f"R{attempts[1].out_trade_no}"
    refund_query_sync(refund_id=refund.pk)
    refund.refresh_from_db()
    assert refund.status == "success"
    row.refresh_from_db()
    assert row.status == "paid"  # the surplus refund leaves the top-up as it is
    wechat_rows = LedgerEntry.objects.filter(channel="wechat", member=shopper.member)
    assert sorted(wechat_rows.values_list("kind", "amount_fen")) == [
        ("wechat_payment", 2000),
        ("wechat_payment", 2000),
        ("wechat_refund", 2000),
    ]
    assert balance_from_ledger(shopper.member) == 2000
    # and the top-up itself is still refundable, from the attempt that credited it
    own = top_up_refund(top_up_id=row.pk, actor="admin:boss")
    assert own.attempt_id == attempts[0].pk
