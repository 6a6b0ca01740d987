"""The notification's one-statement settle (settle.py, orders' SQL for the order) and the careful
path (a locked transaction, order_transition) write the same rows for the same payment."""

from datetime import timedelta
from uuid import uuid4

import pytest
from django.utils import timezone

from catalog.models import Sku
from catalog.tests.factories import SkuFactory
from members.models import Member, PointsLot
from orders.models import Order, OrderStatusLog
from orders.pricing import CheckoutRequest, DeliveryChoice, LineInput
from orders.selectors import checkout_quote
from orders.services import order_create
from orders.tests.factories import AddressFactory
from payments.models import LedgerEntry, PaymentAttempt
from payments.services import SettleOutcome, order_paid_followups, payment_settle

pytestmark = pytest.mark.django_db

ORDER_FIELDS = (
    "status",
    "goods_fen",
    "discount_fen",
    "shipping_fen",
    "points_used",
    "points_fen",
    "balance_fen",
    "payable_fen",
    "wechat_pay_fen",
    "promotion_kind",
)


def _order_with_balance(member: Member, sku: Sku) -> Order:
    """2 units of the SKU, 3 yuan of them paid from stored value, the rest by WeChat."""
    Member.objects.filter(pk=member.pk).update(balance_fen=500)
    member.refresh_from_db()
    checkout = CheckoutRequest(
        delivery=DeliveryChoice(address_id=AddressFactory(member=member).pk),
        lines=(LineInput(sku_id=sku.pk, quantity=2),),
        balance_fen=300,
    )
    _, quote = checkout_quote(member=member, checkout=checkout, now=timezone.now())
    order, _ = order_create(
        member=member,
        client_token=uuid4().hex,
        checkout=checkout,
        expected_payable_fen=quote.payable_fen,
    )
    return order


def _rows(order: Order, *, transaction_id: str, sku: Sku) -> dict[str, object]:
    """What the payment left, ids, numbers and times replaced by what they should be."""
    order.refresh_from_db()
    attempt = PaymentAttempt.objects.get(order=order)
    member = Member.objects.get(pk=order.member_id)

    def plain(text: str) -> str:
        return (
            text.replace(transaction_id, "<tx>")
            .replace(attempt.out_trade_no, "<trade>")
            .replace(order.no, "<no>")
            .replace(f"member:{member.pk}", "member:<id>")
        )

    return {
        "order": {name: getattr(order, name) for name in ORDER_FIELDS}
        | {
            "paid_at": order.paid_at,
            "out_trade_no": plain(order.out_trade_no),
            "effects_applied": order.paid_effects_at is not None,
        },
        "attempt": (
            attempt.status,
            attempt.amount_fen,
            attempt.paid_at,
            plain(attempt.transaction_id),
            attempt.last_error,
        ),
        "ledger": [
            (
                entry.kind,
                entry.direction,
                entry.channel,
                entry.amount_fen,
                plain(entry.external_key),
                entry.attempt_id == attempt.pk if entry.attempt_id else None,
                entry.refund_id,
                entry.member_id == member.pk,
                plain(entry.note),
                entry.occurred_at,
            )
            for entry in LedgerEntry.objects.filter(order=order).order_by("kind", "id")
        ],
        "status_logs": [
            (log.from_status, log.to_status, plain(log.actor), plain(log.note))
            for log in OrderStatusLog.objects.filter(order=order).order_by("id")
        ],
        "stock": Sku.objects.get(pk=sku.pk).stock,
        "points": list(
            PointsLot.objects.filter(source_key=f"order:{order.no}").values_list("status", "points")
        ),
        "member": (member.points_balance, member.growth, member.balance_fen, member.level_id),
    }


def test_the_one_statement_and_the_careful_path_leave_the_same_rows(member_login, wechat_sim):
    # given: two identical shoppers with two identical orders, each with a prepay
    paid_at = (timezone.now() - timedelta(seconds=5)).replace(microsecond=0)
    cases = []
    for path in ("fast", "careful"):
        member_id, client = member_login(f"o-paths-{path}-{uuid4().hex[:8]}")
        sku = SkuFactory(price_fen=1999, stock=100)
        order = _order_with_balance(Member.objects.get(pk=member_id), sku)
        assert client.post(f"/api/v1/orders/{order.no}/pay").status_code == 200
        cases.append((path, order, sku, f"4200000000{uuid4().int % 10**18:018d}"))

    # when: one is settled by the notification's statement, the other by the careful path
    for path, order, _, transaction_id in cases:
        attempt = PaymentAttempt.objects.get(order=order)
        outcome = payment_settle(
            out_trade_no=attempt.out_trade_no,
            transaction_id=transaction_id,
            total_fee=order.wechat_pay_fen,
            paid_at=paid_at,
            source="notify",
            one_statement=path == "fast",
        )
        assert outcome == SettleOutcome.SETTLED
        order_paid_followups(order_id=order.pk)  # as the follow-up task does

    # then
    fast, careful = (
        _rows(order, transaction_id=transaction_id, sku=sku)
        for _, order, sku, transaction_id in cases
    )
    assert fast["order"]["status"] == "paid"
    assert fast["order"]["paid_at"] == paid_at
    assert [row[0] for row in fast["ledger"]] == ["balance_spend", "wechat_payment"]
    assert fast["points"] == [("pending", 39)]  # on the payable, stored value included
    assert fast == careful
