"""Stored-value top-ups (充100送10): pay through the simulator over real HTTP, the balance gets
amount + bonus exactly once however often WeChat notifies; the Idempotency-Key answers the same
top-up."""

import pytest

from members.models import Member
from payments.models import LedgerEntry, PaymentAttempt, TopUp, TopUpTier
from payments.tests.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def top_up(shopper, amount_fen: int, key: str):
    return shopper.client.post(
        "/api/v1/balance/top-ups",
        {"amount_fen": amount_fen},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def balance_of(member: Member) -> int:
    return Member.objects.values_list("balance_fen", flat=True).get(pk=member.pk)


def test_top_up_with_bonus_credits_once_even_with_duplicated_notifications(
    shopper, callbacks, sim_pay, sim_quiet, wechat_sim
):
    # given
    TopUpTier.objects.create(threshold_fen=5000, bonus_fen=300)
    TopUpTier.objects.create(threshold_fen=10000, bonus_fen=1000)
    TopUpTier.objects.create(threshold_fen=10000, bonus_fen=5000, is_active=False)
    wechat_sim.control("POST", "faults", json={"duplicate": 4, "reorder": True, "seed": 3})
    # when
    response = top_up(shopper, 10000, "tu-1")
    assert response.status_code == 200, response.content
    answer = response.json()
    payment = sim_pay(answer)
    # then
    assert answer["paid"] is False
    assert answer["top_up"]["bonus_fen"] == 1000
    wait_until(lambda: balance_of(shopper.member) == 11000, what="the top-up to be credited")
    sim_quiet()
    sent = wechat_sim.control("GET", "notifications")["results"]
    assert len(sent) == 5
    assert all(n["answered_success"] for n in sent)
    assert balance_of(shopper.member) == 11000
    top_up_row = TopUp.objects.get(no=answer["top_up"]["no"])
    assert top_up_row.status == "paid"
    attempt = PaymentAttempt.objects.get(top_up=top_up_row)
    assert attempt.order_id is None
    assert (attempt.status, attempt.transaction_id) == ("paid", payment["transaction_id"])
    rows = LedgerEntry.objects.filter(member=shopper.member).order_by("id")
    assert list(rows.values_list("kind", "channel", "amount_fen", "external_key")) == [
        ("wechat_payment", "wechat", 10000, f"wxpay:{payment['transaction_id']}"),
        ("balance_top_up", "balance", 10000, f"balance:topup:{top_up_row.no}"),
        ("balance_bonus", "balance", 1000, f"balance:bonus:{top_up_row.no}"),
    ]
    overview = shopper.client.get("/api/v1/balance").json()
    assert overview["balance_fen"] == 11000
    assert [e["kind"] for e in overview["entries"]] == ["balance_bonus", "balance_top_up"]


def test_the_idempotency_key_answers_the_same_top_up(shopper, wechat_sim):
    # when
    first = top_up(shopper, 5000, "tu-same").json()
    again = top_up(shopper, 5000, "tu-same").json()
    other_amount = top_up(shopper, 6000, "tu-same")
    no_key = shopper.client.post("/api/v1/balance/top-ups", {"amount_fen": 5000}, format="json")
    bad_amount = top_up(shopper, 0, "tu-zero")
    # then
    assert again["top_up"]["no"] == first["top_up"]["no"]
    assert again["request_payment"]["package"] == first["request_payment"]["package"]
    assert first["top_up"]["bonus_fen"] == 0
    assert TopUp.objects.filter(member=shopper.member).count() == 1
    assert PaymentAttempt.objects.filter(top_up__member=shopper.member).count() == 1
    assert other_amount.status_code == 422
    assert other_amount.json()["code"] == "idempotency_key_reused"
    assert no_key.status_code == 400
    assert bad_amount.json()["code"] == "top_up_amount_invalid"


def test_a_lost_top_up_notification_is_settled_by_the_sync_beat(shopper, sim_pay, wechat_sim):
    # given: notifications go nowhere (no live server)
    answer = top_up(shopper, 2000, "tu-lost").json()
    sim_pay(answer)
    # when
    from payments.services import payment_attempts_sync

    counts = payment_attempts_sync(older_than_seconds=0)
    # then
    assert counts["settled"] == 1
    assert balance_of(shopper.member) == 2000
    assert TopUp.objects.get(no=answer["top_up"]["no"]).status == "paid"
