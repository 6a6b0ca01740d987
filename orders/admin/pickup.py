"""Pickup at the counter (核销自提): from an order's page, or by typing the shopper's code."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.validators import RegexValidator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from mall.errors import DomainError

from ..models import Order, OrderLine, OrderStatus
from ..services import pickup_redeem
from .desk import OrderDeskBase, admin_actor, int_or_none, status_badge


class PickupCodeForm(forms.Form):
    code = forms.CharField(
        label="自提码",
        min_length=6,
        max_length=6,
        validators=[RegexValidator(r"^\d{6}$", "自提码为 6 位数字")],
        widget=forms.TextInput(attrs={"autofocus": True, "inputmode": "numeric", "size": 8}),
    )


class OrderPickupViews(OrderDeskBase):
    """OrderAdmin's pickup pages: an order's 核销自提 button and the counter's code lookup."""

    def redeem_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        order = self._order_for_tool(request, object_id)
        if isinstance(order, HttpResponse):
            return order
        form = PickupCodeForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                pickup_redeem(
                    code=form.cleaned_data["code"], actor=admin_actor(request), order_id=order.pk
                )
            except DomainError as exc:
                self.message_user(request, f"核销失败：{exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"订单 {order.no} 已核销，请交付商品", messages.SUCCESS)
                return HttpResponseRedirect(self._change_url(order))
        return self._order_page(
            request,
            order,
            form,
            title="核销自提",
            submit="核销",
            intro="请输入买家出示的 6 位自提码。",
        )

    def pickup_view(self, request: HttpRequest) -> HttpResponse:
        """核销自提 at the counter: type the code → see the order → confirm."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            code_form = PickupCodeForm(request.POST)
            if code_form.is_valid():
                code = code_form.cleaned_data["code"]
                try:
                    order = pickup_redeem(
                        code=code,
                        actor=admin_actor(request),
                        order_id=int_or_none(request.POST.get("order_id")),
                    )
                except DomainError as exc:
                    self.message_user(request, f"核销失败：{exc.message}", messages.ERROR)
                else:
                    self.message_user(
                        request,
                        format_html(
                            '订单 <a href="{}">{}</a> 已核销，请交付商品',
                            self._change_url(order),
                            order.no,
                        ),
                        messages.SUCCESS,
                    )
            return HttpResponseRedirect(reverse("admin:orders_order_pickup"))

        code_form = PickupCodeForm(request.GET if "code" in request.GET else None)
        order = None
        if code_form.is_bound and code_form.is_valid():
            order = (
                Order.objects.filter(
                    delivery_type=Order.DeliveryType.PICKUP,
                    pickup_code=code_form.cleaned_data["code"],
                    status__in=Order.OPEN_PICKUP_STATUSES,
                )
                .select_related("member", "pickup_point")
                .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")))
                .first()
            )
            if order is None:
                code_form.add_error(
                    "code", "没有找到待自提的订单：自提码错误，或订单已核销、已取消"
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "核销自提",
            "form": code_form,
            "order": order,
            "status": status_badge(order) if order else "",
            "can_redeem": order is not None and order.status == OrderStatus.PAID,
            "change_url": self._change_url(order) if order else "",
        }
        return TemplateResponse(request, "admin/orders/order/pickup.html", context)
