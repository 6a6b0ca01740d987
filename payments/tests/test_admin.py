"""The merchant's payments admin: read-only money, the 申请退款 form, reconciliation reports."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.test import RequestFactory

from payments.models import Refund
from payments.services import wechat_bill_reconcile
from payments.tests.conftest import pay_and_settle, place_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_order(shopper, sku, wechat_sim, sim_pay):
    order = place_order(shopper.member, [(sku, 3)])
    pay_and_settle(shopper, order, sim_pay)
    return order


def test_every_payments_page_renders(admin_client, paid_order, wechat_sim):
    wechat_bill_reconcile(bill_date=paid_order.created_at.date())
    for model in ("paymentattempt", "ledgerentry", "refund", "reconciliationrun"):
        listing = admin_client.get(f"/admin/payments/{model}/")
        assert listing.status_code == 200, model
    attempt = paid_order.payment_attempts.get()
    assert (
        admin_client.get(f"/admin/payments/paymentattempt/{attempt.pk}/change/").status_code == 200
    )
    ledger = admin_client.get("/admin/payments/ledgerentry/?q=" + paid_order.no)
    assert "+59.97" in ledger.content.decode()
    run = admin_client.get("/admin/payments/reconciliationrun/1/change/")
    assert run.status_code in (200, 302)


def test_money_records_cannot_be_added_or_deleted_by_hand(admin_client, paid_order):
    assert admin_client.get("/admin/payments/ledgerentry/add/").status_code == 403
    entry = paid_order.ledger_entries.get()
    assert admin_client.post(f"/admin/payments/ledgerentry/{entry.pk}/delete/").status_code == 403
    page = admin_client.get(f"/admin/payments/ledgerentry/{entry.pk}/change/")
    assert page.status_code == 200
    assert b'name="amount_fen"' not in page.content  # shown, not editable


def test_refund_form_is_prefilled_from_the_order_and_applies_a_partial_refund(
    admin_client, paid_order, wechat_sim
):
    # given
    line = paid_order.lines.get()
    page = admin_client.get(f"/admin/payments/refund/add/?order={paid_order.no}")
    assert page.status_code == 200
    html = page.content.decode()
    assert paid_order.no in html
    assert f'name="qty_{line.pk}"' in html
    token = page.context["form"].initial["out_refund_no"]
    body = {
        "order_no": paid_order.no,
        f"qty_{line.pk}": "1",
        "reason": "少发一件",
        "restock": "on",
        "out_refund_no": token,
        "_apply": "1",
    }
    # when: submitted twice (a double click)
    first = admin_client.post("/admin/payments/refund/add/", body)
    second = admin_client.post("/admin/payments/refund/add/", body)
    # then
    refund = Refund.objects.get()
    assert first.status_code == second.status_code == 302
    assert first["Location"] == f"/admin/payments/refund/{refund.pk}/change/"
    assert (refund.amount_fen, refund.restock, refund.requested_by) == (1999, True, "admin:admin")
    assert refund.reason == "少发一件"
    detail = admin_client.get(first["Location"])
    assert detail.status_code == 200
    assert refund.out_refund_no in detail.content.decode()


def test_refund_form_reports_what_cannot_be_refunded(admin_client, paid_order):
    line = paid_order.lines.get()
    base = {"order_no": paid_order.no, "out_refund_no": "", "_apply": "1"}
    nothing = admin_client.post("/admin/payments/refund/add/", base)
    too_many = admin_client.post("/admin/payments/refund/add/", base | {f"qty_{line.pk}": "4"})
    unknown = admin_client.get("/admin/payments/refund/add/?order=NOSUCH")
    assert "请填写退款数量" in nothing.content.decode()
    assert too_many.status_code == 200
    assert not Refund.objects.exists()
    assert "订单不存在" in unknown.content.decode()
    lookup = admin_client.post(
        "/admin/payments/refund/add/", {"order_no": paid_order.no, "_load": "1"}
    )
    assert lookup["Location"].endswith(f"?order={paid_order.no}")


def test_refund_form_refunds_the_whole_order(admin_client, paid_order, wechat_sim):
    admin_client.post(
        "/admin/payments/refund/add/",
        {"order_no": paid_order.no, "refund_all": "on", "out_refund_no": "", "_apply": "1"},
    )
    refund = Refund.objects.get()
    assert (refund.amount_fen, refund.lines.get().quantity) == (5997, 3)


@pytest.mark.parametrize(
    ("model", "action"),
    [
        ("paymentattempt", "query_wechat"),
        ("refund", "retry_change"),
        ("refund", "sync_with_wechat"),
        ("topup", "refund_top_up"),
    ],
)
def test_money_actions_need_the_change_permission_not_view(model, action):
    # given: two staff users, one who may only view the records, one who may also change them
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    operator = User.objects.create_user("operator", password="pw", is_staff=True)
    view = Permission.objects.get(codename=f"view_{model}")
    viewer.user_permissions.add(view)
    operator.user_permissions.add(view, Permission.objects.get(codename=f"change_{model}"))

    # when / then: only the one who may change them is offered the action (Django refuses an
    # action it does not offer)
    model_admin = next(ma for m, ma in admin.site._registry.items() if m._meta.model_name == model)
    for user, offered in ((viewer, False), (operator, True)):
        request = RequestFactory().get(f"/admin/payments/{model}/")
        request.user = User.objects.get(pk=user.pk)  # a fresh permission cache
        assert (action in model_admin.get_actions(request)) is offered, user.username
