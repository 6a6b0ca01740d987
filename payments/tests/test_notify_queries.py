"""The payment notification is the hot path (bench/notify.py): its SQL is budgeted."""

import pytest

from payments import wechat
from payments.models import LedgerEntry, PaymentAttempt
from payments.tests.conftest import notification_body, place_order

pytestmark = pytest.mark.django_db

NOTIFY = "/api/v1/payments/wechat/notify"
# Ours: the replay check, then one statement (attempt paid + ledger row + order paid + its log):
# exactly 2. The rest is what other apps do in the same transaction (_order_paid_effects_locked:
# group buy, flash sale, points mall, points, growth and level, task card, coupons, campaigns:
# 22 statements with their savepoints when this was written) and the test's savepoint pair.
NEW_NOTIFICATION_MAX_SQL = 28


def test_a_new_notification_is_settled_in_one_statement_a_replay_in_one_read(
    shopper, sku, wechat_sim, api_client, django_assert_max_num_queries
):
    # given
    order = place_order(shopper.member, [(sku, 2)])
    shopper.pay(order)
    attempt = PaymentAttempt.objects.get(order=order)
    body = notification_body(
        attempt.out_trade_no, transaction_id="4200000000000000000000000001", total_fee=3998
    )
    # when
    with django_assert_max_num_queries(NEW_NOTIFICATION_MAX_SQL) as new:
        first = api_client.post(NOTIFY, data=body, content_type="text/xml")
    with django_assert_max_num_queries(1):
        replay = api_client.post(NOTIFY, data=body, content_type="text/xml")
    # then
    assert first.content == replay.content == wechat.SUCCESS_XML
    payments_sql = [q["sql"] for q in new.captured_queries if '"payments_' in q["sql"]]
    assert len(payments_sql) == 2, payments_sql  # the replay check and the one statement
    assert payments_sql[1].lstrip().startswith("WITH paid_attempt")
    order.refresh_from_db()
    assert order.status == "paid"
    assert order.status_logs.filter(to_status="paid", actor="wechat").count() == 1
    assert LedgerEntry.objects.filter(order=order).values_list("kind", "amount_fen").get() == (
        "wechat_payment",
        3998,
    )
