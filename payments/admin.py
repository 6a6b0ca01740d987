"""The merchant's view of money (Chinese): payments, the ledger (read-only), refunds with the
"申请退款" form, reconciliation reports. Every write goes through payments services."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from mall.errors import DomainError, WechatUnavailable
from mall.money import yuan
from orders.models import Order

from .models import (
    LedgerEntry,
    PaymentAttempt,
    ReconciliationDifference,
    ReconciliationRun,
    Refund,
    RefundLine,
    TopUp,
    TopUpTier,
)
from .selectors import order_refundable_lines
from .services import (
    RefundLineInput,
    payment_attempt_query,
    refund_change_retry,
    refund_query_sync,
    refund_request,
    top_up_refund,
)


def _order_link(order_id: int | None, text: str) -> str:
    if order_id is None:
        return "-"
    try:
        url = reverse("admin:orders_order_change", args=[order_id])
    except NoReverseMatch:
        return text
    return format_html('<a href="{}">{}</a>', url, text)


class MoneyActionsMixin:
    """Money actions (ask WeChat, refund) run through services on admins that edit nothing
    themselves: they take the model's change permission, which these admins never use to edit."""

    def has_money_permission(self, request: HttpRequest) -> bool:
        opts = self.model._meta  # type: ignore[attr-defined]
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money records change only through services: view, never add, edit or delete here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(MoneyActionsMixin, ReadOnlyAdmin):
    list_display = [
        "out_trade_no",
        "order_link",
        "amount",
        "status",
        "transaction_id",
        "paid_at",
        "created_at",
    ]
    list_filter = ["status", "created_at"]
    search_fields = ["out_trade_no", "order__no", "transaction_id"]
    list_select_related = ["order"]
    date_hierarchy = "created_at"
    actions = ["query_wechat"]

    @admin.display(description="订单")
    def order_link(self, obj: PaymentAttempt) -> str:
        if obj.order_id is None:
            return f"充值 {obj.out_trade_no.rsplit('P', 1)[0]}"
        return _order_link(obj.order_id, obj.order.no)

    @admin.display(description="金额(元)", ordering="amount_fen")
    def amount(self, obj: PaymentAttempt) -> str:
        return yuan(obj.amount_fen)

    @admin.action(description="向微信查询支付状态（已支付的入账）", permissions=["money"])
    def query_wechat(self, request: HttpRequest, queryset: QuerySet[PaymentAttempt]) -> None:
        for attempt in queryset.filter(status__in=PaymentAttempt.OPEN_STATUSES):
            try:
                state = payment_attempt_query(attempt_id=attempt.pk)
            except WechatUnavailable as exc:
                self.message_user(request, f"{attempt.out_trade_no}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{attempt.out_trade_no}: 微信状态 {state}")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "occurred_at",
        "kind",
        "channel",
        "signed_amount",
        "external_key",
        "order_link",
        "member",
        "created_at",
    ]
    list_filter = ["kind", "channel", "direction", "occurred_at"]
    search_fields = ["order__no", "external_key"]
    list_select_related = ["order", "member"]
    date_hierarchy = "occurred_at"

    @admin.display(description="金额(元)", ordering="amount_fen")
    def signed_amount(self, obj: LedgerEntry) -> str:
        sign = "+" if obj.direction == LedgerEntry.Direction.IN else "-"
        return sign + yuan(obj.amount_fen)

    @admin.display(description="订单")
    def order_link(self, obj: LedgerEntry) -> str:
        return _order_link(obj.order_id, obj.order.no if obj.order else "")


class RefundLineInline(ReadOnlyInline):
    model = RefundLine
    fields = ["order_line", "quantity", "amount"]
    readonly_fields = fields

    @admin.display(description="金额(元)")
    def amount(self, obj: RefundLine) -> str:
        return yuan(obj.amount_fen)


class RefundApplyForm(forms.Form):
    order_no = forms.CharField(label="订单号", max_length=32)
    reason = forms.CharField(label="退款原因", max_length=200, required=False)
    refund_all = forms.BooleanField(label="整单退款", required=False)
    restock = forms.BooleanField(
        label="退回库存", required=False, help_text="货已退回或尚未发货时勾选：退款成功后库存加回"
    )
    # A token per form: a double-clicked submit is the same refund (refund_request is idempotent).
    out_refund_no = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, refundable: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refundable = refundable or []
        for item in self.refundable:
            self.fields[f"qty_{item.line.pk}"] = forms.IntegerField(
                label=item.line.title,
                min_value=0,
                max_value=item.refundable_quantity,
                initial=0,
                required=False,
                widget=forms.NumberInput(attrs={"style": "width:5em"}),
            )

    def line_inputs(self) -> list[RefundLineInput] | None:
        if self.cleaned_data.get("refund_all"):
            return None
        return [
            RefundLineInput(order_line_id=item.line.pk, quantity=qty)
            for item in self.refundable
            if (qty := self.cleaned_data.get(f"qty_{item.line.pk}") or 0) > 0
        ]


def _top_up_link(top_up_id: int | None, text: str) -> str:
    if top_up_id is None:
        return "-"
    url = reverse("admin:payments_topup_change", args=[top_up_id])
    return format_html('<a href="{}">充值 {}</a>', url, text)


@admin.register(Refund)
class RefundAdmin(MoneyActionsMixin, admin.ModelAdmin):
    list_display = [
        "out_refund_no",
        "order_link",
        "amount",
        "status_label",
        "is_automatic",
        "restock",
        "requested_by",
        "created_at",
        "succeeded_at",
    ]
    # status=change is 退款异常，需人工处理: the dashboard's count links to that filter
    list_filter = ["status", "is_automatic", "restock", "created_at"]
    search_fields = ["out_refund_no", "order__no", "top_up__no", "wechat_refund_id"]
    list_select_related = ["order", "top_up"]
    date_hierarchy = "created_at"
    inlines = [RefundLineInline]
    actions = ["sync_with_wechat", "retry_change"]
    readonly_fields = [
        "order_link",
        "attempt",
        "out_refund_no",
        "retry_of",
        "amount",
        "wechat_fen",
        "balance_fen",
        "status",
        "wechat_refund_id",
        "reason",
        "requested_by",
        "is_automatic",
        "restock",
        "restocked_at",
        "last_error",
        "created_at",
        "submitted_at",
        "succeeded_at",
    ]
    fields = readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="订单 / 充值")
    def order_link(self, obj: Refund) -> str:
        if obj.order_id is None:
            return _top_up_link(obj.top_up_id, obj.top_up.no if obj.top_up else "")
        return _order_link(obj.order_id, obj.order.no if obj.order else "")

    @admin.display(description="状态", ordering="status")
    def status_label(self, obj: Refund) -> str:
        if obj.status == Refund.Status.CHANGE:
            return format_html(
                '<strong style="color:#ba2121">{}</strong>', obj.get_status_display()
            )
        return obj.get_status_display()

    @admin.action(description="重新提交异常退款（新退款单号）", permissions=["money"])
    def retry_change(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        picked = queryset.filter(status=Refund.Status.CHANGE)
        if not picked.exists():
            self.message_user(request, "请选择“退款异常，需人工处理”的退款", messages.WARNING)
        for refund in picked:
            try:
                result = refund_change_retry(
                    refund_id=refund.pk, actor=f"admin:{request.user.get_username()}"
                )
            except DomainError as exc:
                self.message_user(request, f"{refund.out_refund_no}: {exc.message}", messages.ERROR)
                continue
            if result.status == Refund.Status.CLOSED:
                self.message_user(
                    request,
                    f"{refund.out_refund_no}: 微信不接受重新提交（{result.last_error}），"
                    "请到微信支付商户平台手动处理此笔退款",
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request,
                    f"{refund.out_refund_no}: 已重新提交为 {result.out_refund_no}"
                    f"（{result.get_status_display()}）",
                    messages.SUCCESS,
                )

    @admin.display(description="退款金额(元)", ordering="amount_fen")
    def amount(self, obj: Refund) -> str:
        return yuan(obj.amount_fen)

    @admin.action(description="向微信查询/重新提交退款", permissions=["money"])
    def sync_with_wechat(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        for refund in queryset.filter(status__in=Refund.IN_FLIGHT_STATUSES):
            try:
                status = refund_query_sync(refund_id=refund.pk)
            except WechatUnavailable as exc:
                self.message_user(request, f"{refund.out_refund_no}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{refund.out_refund_no}: {status}")

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """申请退款: the order (prefilled from ?order=<no>), per-line quantities or the whole
        order, a reason and whether the stock comes back; calls refund_request."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        order_no = (request.POST.get("order_no") or request.GET.get("order") or "").strip()
        order = Order.objects.filter(no=order_no).first() if order_no else None
        refundable = order_refundable_lines(order=order) if order else []
        if request.method == "POST" and "_load" in request.POST:
            return HttpResponseRedirect(f"{request.path}?order={order_no}")
        if request.method == "POST" and order is not None:
            form = RefundApplyForm(request.POST, refundable=refundable)
            if form.is_valid():
                response = self._refund_apply(request, form, order)
                if response is not None:
                    return response
        else:
            form = RefundApplyForm(
                initial={"order_no": order_no, "out_refund_no": f"RA{uuid4().hex[:24]}"},
                refundable=refundable,
            )
        rows = [
            {
                "item": item,
                "field": form[f"qty_{item.line.pk}"],
                "paid_yuan": yuan(item.line.paid_fen),
            }
            for item in refundable
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "申请退款",
            "form": form,
            "order": order,
            "order_missing": bool(order_no) and order is None,
            "rows": rows,
            "payable_yuan": yuan(order.payable_fen) if order else "",
            "wechat_yuan": yuan(order.wechat_pay_fen) if order else "",
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/payments/refund/apply.html", context)

    def _refund_apply(
        self, request: HttpRequest, form: RefundApplyForm, order: Order
    ) -> HttpResponse | None:
        lines = form.line_inputs()
        if lines == []:
            form.add_error(None, "请填写退款数量，或勾选整单退款")
            return None
        try:
            refund = refund_request(
                order_id=order.pk,
                lines=lines,
                reason=form.cleaned_data["reason"],
                requested_by=f"admin:{request.user.get_username()}",
                out_refund_no=form.cleaned_data["out_refund_no"] or None,
                restock=form.cleaned_data["restock"],
            )
        except DomainError as exc:
            form.add_error(None, f"{exc.message} {exc.detail or ''}".strip())
            return None
        self.message_user(
            request,
            f"已申请退款 {refund.out_refund_no}：{yuan(refund.amount_fen)} 元，等待微信处理",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:payments_refund_change", args=[refund.pk]))


class ReconciliationDifferenceInline(ReadOnlyInline):
    model = ReconciliationDifference
    fields = [
        "kind",
        "out_trade_no",
        "out_refund_no",
        "transaction_id",
        "ours_fen",
        "theirs_fen",
        "detail",
    ]
    readonly_fields = fields


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = [
        "bill_date",
        "status",
        "differences_count",
        "theirs_payment_count",
        "theirs_payment_yuan",
        "theirs_refund_yuan",
        "ours_payment_yuan",
        "ours_refund_yuan",
        "created_at",
    ]
    list_filter = ["status", "bill_date"]
    date_hierarchy = "bill_date"
    inlines = [ReconciliationDifferenceInline]

    @admin.display(description="微信收款(元)")
    def theirs_payment_yuan(self, obj: ReconciliationRun) -> str:
        return yuan(obj.theirs_payment_fen)

    @admin.display(description="微信退款(元)")
    def theirs_refund_yuan(self, obj: ReconciliationRun) -> str:
        return yuan(obj.theirs_refund_fen)

    @admin.display(description="本地收款(元)")
    def ours_payment_yuan(self, obj: ReconciliationRun) -> str:
        return yuan(obj.ours_payment_fen)

    @admin.display(description="本地退款(元)")
    def ours_refund_yuan(self, obj: ReconciliationRun) -> str:
        return yuan(obj.ours_refund_fen)


@admin.register(TopUpTier)
class TopUpTierAdmin(admin.ModelAdmin):
    list_display = ["threshold_fen", "bonus_fen", "is_active"]
    list_editable = ["is_active"]
    list_filter = ["is_active"]


@admin.register(TopUp)
class TopUpAdmin(MoneyActionsMixin, admin.ModelAdmin):
    list_display = ["no", "member", "amount", "bonus", "status", "paid_at", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["no", "member__nickname"]
    list_select_related = ["member"]
    actions = ["refund_top_up"]

    @admin.display(description="充值金额(元)", ordering="amount_fen")
    def amount(self, obj: TopUp) -> str:
        return yuan(obj.amount_fen)

    @admin.display(description="赠送金额(元)", ordering="bonus_fen")
    def bonus(self, obj: TopUp) -> str:
        return yuan(obj.bonus_fen)

    @admin.action(description="充值退款（原路退回，扣回充值与赠送余额）", permissions=["money"])
    def refund_top_up(self, request: HttpRequest, queryset: QuerySet[TopUp]) -> None:
        for top_up in queryset.order_by("pk"):
            try:
                refund = top_up_refund(
                    top_up_id=top_up.pk, actor=f"admin:{request.user.get_username()}"
                )
            except DomainError as exc:
                detail = exc.detail
                extra = (
                    f"（余额 {yuan(detail['balance_fen'])} 元，需 {yuan(detail['needed_fen'])} 元）"
                    if "needed_fen" in detail
                    else ""
                )
                self.message_user(request, f"{top_up.no}: {exc.message}{extra}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{top_up.no}: 已申请退款 {refund.out_refund_no}，退回微信 {yuan(refund.wechat_fen)} 元，"
                f"余额扣回 {yuan(top_up.amount_fen + top_up.bonus_fen)} 元",
                messages.SUCCESS,
            )

    readonly_fields = [
        "member",
        "no",
        "amount_fen",
        "bonus_fen",
        "status",
        "client_token",
        "paid_at",
        "created_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
