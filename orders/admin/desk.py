"""What the order desk's pages share: the status badge, money and actor texts, and the base
class that finds the order a detail button acts on and renders its confirmation page."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from mall.money import yuan

from ..exports import order_destination_text
from ..models import Order, OrderLine, OrderStatus

BADGE_STYLE = (
    "display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;"
    "white-space:nowrap;background:{}"
)
STATUS_COLOURS: dict[str, str] = {
    OrderStatus.PENDING_PAYMENT: "#d97706",
    OrderStatus.PAID: "#2563eb",
    OrderStatus.SHIPPED: "#7c3aed",
    OrderStatus.RECEIVED: "#0d9488",
    OrderStatus.COMPLETED: "#16a34a",
    OrderStatus.CANCELLED: "#9ca3af",
    OrderStatus.CLOSED: "#6b7280",
}


def admin_actor(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"


def money(fen: int) -> str:
    return f"¥{yuan(fen)}"


def status_label(status: str) -> str:
    try:
        return OrderStatus(status).label
    except ValueError:
        return status or "—"


def status_badge(order: Order) -> str:
    colour = STATUS_COLOURS.get(order.status, "#6b7280")
    return format_html('<span style="{}">{}</span>', BADGE_STYLE.format(colour), order.status_label)


def int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


class OrderDeskBase(admin.ModelAdmin):
    """The order desk's plumbing; its views live in the shipping, pickup and cancel mixins."""

    def _change_url(self, order: Order) -> str:
        return reverse("admin:orders_order_change", args=[order.pk])

    def _order_for_tool(self, request: HttpRequest, object_id: str) -> Order | HttpResponse:
        """The order a detail button acts on, or the redirect Django's views give for a missing
        one. Raises: PermissionDenied."""
        order = self.get_object(request, unquote(object_id))
        if order is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, order):
            raise PermissionDenied
        return order

    def _order_page(
        self,
        request: HttpRequest,
        order: Order,
        form: forms.Form,
        *,
        title: str,
        submit: str,
        intro: str = "",
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{title}：{order.no}",
            "order": order,
            "status": status_badge(order),
            "destination": order_destination_text(order),
            "lines": OrderLine.objects.filter(order=order).order_by("id"),
            "form": form,
            "submit": submit,
            "intro": intro,
            "change_url": self._change_url(order),
        }
        return TemplateResponse(request, "admin/orders/order/order_form.html", context)
