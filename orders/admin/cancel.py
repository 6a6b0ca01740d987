"""Cancelling unpaid orders: one from its page, or the selected ones as a bulk action."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

from mall.errors import DomainError

from ..models import Order, OrderStatus
from ..services import order_cancel
from .desk import OrderDeskBase, admin_actor, status_label

BULK_ACTION_LISTED = 20  # order numbers named in a bulk action's messages


class CancelForm(forms.Form):
    reason = forms.CharField(label="取消原因", max_length=200, initial="商家取消")


class OrderCancelViews(OrderDeskBase):
    """OrderAdmin's cancel page and its 取消所选的未付款订单 action."""

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        order = self._order_for_tool(request, object_id)
        if isinstance(order, HttpResponse):
            return order
        form = CancelForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                order_cancel(
                    order_id=order.pk,
                    actor=admin_actor(request),
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as exc:
                self.message_user(request, f"取消失败：{exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"订单 {order.no} 已取消，库存已退回", messages.SUCCESS)
            return HttpResponseRedirect(self._change_url(order))
        return self._order_page(
            request,
            order,
            form,
            title="取消订单",
            submit="确认取消",
            intro="只能取消待付款的订单；取消后库存退回。",
        )

    @admin.action(description="取消所选的未付款订单", permissions=["change"])
    def cancel_unpaid(self, request: HttpRequest, queryset: QuerySet[Order]) -> HttpResponse | None:
        form = CancelForm(request.POST if "apply" in request.POST else None)
        selected = list(
            queryset.prefetch_related(None).order_by("pk").values_list("pk", "no", "status")
        )
        if not (form.is_bound and form.is_valid()):
            context = {
                **self.admin_site.each_context(request),
                "title": "取消未付款订单",
                "opts": self.opts,
                "form": form,
                "orders": selected,
                "count": len(selected),
                "unpaid_count": sum(
                    status == OrderStatus.PENDING_PAYMENT for _, _, status in selected
                ),
                "action": "cancel_unpaid",
                "select_across": request.POST.get("select_across", "0"),
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/orders/order/bulk_cancel.html", context)

        cancelled: list[str] = []
        refused: list[str] = []
        for order_id, no, status in selected:
            if status != OrderStatus.PENDING_PAYMENT:
                refused.append(f"{no}（{status_label(status)}）")
                continue
            try:
                order_cancel(
                    order_id=order_id,
                    actor=admin_actor(request),
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as exc:  # paid in the meantime
                refused.append(f"{no}（{exc.message}）")
            else:
                cancelled.append(no)
        if cancelled:
            self.message_user(
                request, f"已取消 {len(cancelled)} 个订单，库存已退回", messages.SUCCESS
            )
        if refused:
            listed = "、".join(refused[:BULK_ACTION_LISTED])
            more = f" 等 {len(refused)} 个" if len(refused) > BULK_ACTION_LISTED else ""
            self.message_user(
                request, f"以下订单不是待付款状态，未取消：{listed}{more}", messages.WARNING
            )
        return None
