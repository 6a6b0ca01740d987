"""The merchant's order desk (Chinese). Every write goes through orders services.

The merchant never edits an order's status or amounts: they are read-only here, and shipping,
pickup, cancelling and the merchant note each call their service (`order_ship`,
`pickup_redeem`, `order_cancel`, `order_merchant_note_set`). A domain error becomes an admin
error message, never a 500.
"""

from __future__ import annotations

import io
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import RegexValidator
from django.db.models import Count, Prefetch, Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from mall.errors import DomainError
from mall.money import yuan
from marketing.services.group_buy import GROUP_BUY_KINDS, group_buy_order_status_label

from .exports import order_destination_text, orders_export_tempfile
from .models import (
    Address,
    FreightRule,
    FreightTemplate,
    Order,
    OrderLine,
    OrderStatus,
    OrderStatusLog,
    PickupPoint,
)
from .services import order_cancel, order_ship, pickup_redeem
from .services.merchant import (
    CARRIERS,
    ShipmentResult,
    carrier_label,
    order_merchant_note_set,
    orders_ship_bulk,
)
from .shipment_upload import ShipmentFileInvalid, shipment_rows_read, shipment_template_xlsx

THUMB_STYLE = "height:40px;width:40px;object-fit:cover;border-radius:4px"
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
REFUNDABLE_STATUSES = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.RECEIVED)
BULK_ACTION_LISTED = 20  # order numbers named in a bulk action's messages
UPLOAD_MAX_BYTES = 10 * 1024 * 1024


def _actor(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"


def _money(fen: int) -> str:
    return f"¥{yuan(fen)}"


def _status_label(status: str) -> str:
    try:
        return OrderStatus(status).label
    except ValueError:
        return status or "—"


def status_badge(order: Order) -> str:
    colour = STATUS_COLOURS.get(order.status, "#6b7280")
    return format_html('<span style="{}">{}</span>', BADGE_STYLE.format(colour), order.status_label)


# --- forms of the order desk ---
class ShipForm(forms.Form):
    carrier = forms.ChoiceField(label="快递公司", choices=[("", "请选择"), *CARRIERS.items()])
    tracking_no = forms.CharField(
        label="快递单号",
        max_length=64,
        validators=[RegexValidator(r"^[A-Za-z0-9-]+$", "快递单号只能包含字母、数字和 -")],
    )


class PickupCodeForm(forms.Form):
    code = forms.CharField(
        label="自提码",
        min_length=6,
        max_length=6,
        validators=[RegexValidator(r"^\d{6}$", "自提码为 6 位数字")],
        widget=forms.TextInput(attrs={"autofocus": True, "inputmode": "numeric", "size": 8}),
    )


class CancelForm(forms.Form):
    reason = forms.CharField(label="取消原因", max_length=200, initial="商家取消")


class ShipmentUploadForm(forms.Form):
    file = forms.FileField(
        label="发货文件", help_text="Excel（.xlsx），列：订单号、快递公司、快递单号"
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(".xlsx"):
            raise ValidationError("请上传 .xlsx 文件（可先下载模板）")
        if upload.size > UPLOAD_MAX_BYTES:
            raise ValidationError("文件不能超过 10MB")
        return upload


# --- inlines: what was bought, and the timeline ---
class ReadOnlyInline(admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Part of the order: whoever may see the order sees its lines and timeline.
        return request.user.has_perm("orders.view_order") or request.user.has_perm(
            "orders.change_order"
        )


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    verbose_name = "商品"
    verbose_name_plural = "商品"
    fields = [
        "image",
        "title",
        "spec_text",
        "unit_price",
        "quantity",
        "discount",
        "paid",
        "refunded_quantity",
        "refunded",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderLine]:
        return super().get_queryset(request).order_by("id")

    @admin.display(description="图片")
    def image(self, line: OrderLine) -> str:
        if not line.image_url:
            return "—"
        return format_html('<img src="{}" style="{}" alt="">', line.image_url, THUMB_STYLE)

    @admin.display(description="单价")
    def unit_price(self, line: OrderLine) -> str:
        return _money(line.unit_price_fen)

    @admin.display(description="优惠分摊")
    def discount(self, line: OrderLine) -> str:
        return f"-{_money(line.discount_fen)}" if line.discount_fen else "—"

    @admin.display(description="实付")
    def paid(self, line: OrderLine) -> str:
        return _money(line.paid_fen)

    @admin.display(description="已退金额")
    def refunded(self, line: OrderLine) -> str:
        return _money(line.refunded_fen) if line.refunded_fen else "—"


class OrderStatusLogInline(ReadOnlyInline):
    model = OrderStatusLog
    verbose_name = "状态记录"
    verbose_name_plural = "订单时间线"
    fields = ["created_at", "from_label", "to_label", "actor", "note"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderStatusLog]:
        return super().get_queryset(request).order_by("id")

    @admin.display(description="原状态")
    def from_label(self, log: OrderStatusLog) -> str:
        return _status_label(log.from_status) if log.from_status else "—"

    @admin.display(description="新状态")
    def to_label(self, log: OrderStatusLog) -> str:
        return _status_label(log.to_status)


# --- the order desk ---
ORDER_DETAIL_FIELDSETS = [
    (
        "订单",
        {
            "fields": [
                "no",
                "status_display",
                "kind",
                "group_status_display",
                "member_display",
                "created_at",
                "expires_at",
                "paid_at",
                "out_trade_no",
            ]
        },
    ),
    ("金额明细", {"fields": ["breakdown_display"]}),
    (
        "配送",
        {
            "fields": [
                "delivery_type",
                "delivery_block",
                "pickup_code",
                "carrier_display",
                "tracking_no",
                "shipped_at",
                "received_at",
                "shipping_info_uploaded_at",
            ]
        },
    ),
    ("完成与取消", {"fields": ["completed_at", "cancelled_at", "closed_at", "cancel_reason"]}),
    ("留言与备注", {"fields": ["note", "merchant_note"]}),
]
EDITABLE_ORDER_FIELDS = ("merchant_note",)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = [
        "no",
        "member_display",
        "status_display",
        "delivery_display",
        "payable_display",
        "items_summary",
        "created_at",
        "paid_at",
    ]
    list_select_related = ["member", "pickup_point"]
    list_filter = ["status", "delivery_type", "pickup_point", "kind"]
    date_hierarchy = "created_at"
    search_fields = ["no", "member__phone", "address__phone", "tracking_no"]
    search_help_text = "按订单号、会员手机号、收货人电话或快递单号搜索"
    list_per_page = 50
    show_full_result_count = False  # a COUNT(*) of every order on each page view: not worth it
    actions = ["cancel_unpaid", "export_selected"]
    inlines = [OrderLineInline, OrderStatusLogInline]
    fieldsets = ORDER_DETAIL_FIELDSETS
    readonly_fields = [
        name
        for _, options in ORDER_DETAIL_FIELDSETS
        for name in options["fields"]
        if name not in EDITABLE_ORDER_FIELDS
    ]
    change_form_template = "admin/orders/order/change_form.html"
    change_list_template = "admin/orders/order/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        # The lines for the items column: one query per page, whatever its length.
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch(
                    "lines",
                    queryset=OrderLine.objects.only("id", "order_id", "title", "quantity").order_by(
                        "id"
                    ),
                )
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders are placed by shoppers

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # an order is a financial record: cancel or close it, never delete

    # --- columns ---
    @admin.display(description="会员", ordering="member__nickname")
    def member_display(self, order: Order) -> str:
        member = order.member
        name = member.nickname or member.openid
        if member.phone:
            return format_html('{}<br><span style="color:#888">{}</span>', name, member.phone)
        return name

    @admin.display(description="状态", ordering="status")
    def status_display(self, order: Order) -> str:
        return status_badge(order)

    @admin.display(description="配送方式", ordering="delivery_type")
    def delivery_display(self, order: Order) -> str:
        if order.delivery_type == Order.DeliveryType.PICKUP and order.pickup_point is not None:
            return format_html(
                '自提<br><span style="color:#888">{}</span>', order.pickup_point.name
            )
        return order.get_delivery_type_display()

    @admin.display(description="应付", ordering="payable_fen")
    def payable_display(self, order: Order) -> str:
        return _money(order.payable_fen)

    @admin.display(description="商品")
    def items_summary(self, order: Order) -> str:
        lines = list(order.lines.all())  # prefetched by get_queryset
        if not lines:
            return "—"
        title = lines[0].title if len(lines[0].title) <= 20 else lines[0].title[:20] + "…"
        quantity = sum(line.quantity for line in lines)
        return f"{title} 等{quantity}件" if quantity > 1 else title

    # --- detail ---
    @admin.display(description="拼团状态")
    def group_status_display(self, order: Order) -> str:
        if order.promotion_kind not in GROUP_BUY_KINDS:
            return "—"
        return group_buy_order_status_label(order.pk) or "—"

    @admin.display(description="快递公司")
    def carrier_display(self, order: Order) -> str:
        return carrier_label(order.carrier) if order.carrier else "—"

    @admin.display(description="收货信息")
    def delivery_block(self, order: Order) -> str:
        if order.delivery_type == Order.DeliveryType.PICKUP:
            point = order.pickup_point
            if point is None:
                return "—"
            return format_html(
                "<strong>{}</strong><br>{}{}{}{}<br>电话 {} · 营业时间 {}",
                point.name,
                point.province,
                point.city,
                point.district,
                point.address,
                point.phone or "—",
                point.hours or "—",
            )
        address = order.address or {}
        return format_html(
            "<strong>{}</strong> {}<br>{}{}{}{}",
            address.get("name", ""),
            address.get("phone", ""),
            address.get("province", ""),
            address.get("city", ""),
            address.get("district", ""),
            address.get("detail", ""),
        )

    @admin.display(description="价格明细")
    def breakdown_display(self, order: Order) -> str:
        """The stored breakdown, as the shopper saw it at checkout: goods, each discount named,
        shipping, points, payable, stored value and the WeChat Pay part."""
        # (css class, label, source, amount); the totals are bold.
        rows: list[tuple[str, str, str, str]] = [("", "商品金额", "", _money(order.goods_fen))]
        rows.extend(
            (
                "discount",
                str(discount.get("name") or "优惠"),
                str(discount.get("source", "")),
                f"-{_money(int(discount.get('amount_fen', 0)))}",
            )
            for discount in (order.breakdown or {}).get("discounts", [])
        )
        rows.append(("", "运费", "", _money(order.shipping_fen)))
        if order.points_fen:
            rows.append(
                (
                    "discount",
                    "积分抵扣",
                    f"{order.points_used} 积分",
                    f"-{_money(order.points_fen)}",
                )
            )
        rows.append(("total", "应付", "", _money(order.payable_fen)))
        if order.balance_fen:
            rows.append(("", "余额支付", "", f"-{_money(order.balance_fen)}"))
        rows.append(("total", "微信支付", "", _money(order.wechat_pay_fen)))
        body = format_html_join(
            "",
            '<tr class="{}"><td>{}</td><td class="source">{}</td><td class="amount">{}</td></tr>',
            rows,
        )
        return format_html('<table class="order-breakdown">{}</table>', body)

    # --- saving: only the merchant note, through its service ---
    def save_model(self, request: HttpRequest, obj: Order, form: Any, change: bool) -> None:
        if "merchant_note" in form.changed_data:
            order_merchant_note_set(order_id=obj.pk, note=form.cleaned_data["merchant_note"])

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Order | None = None,
    ) -> HttpResponse:
        if obj is not None and self.has_change_permission(request, obj):
            context["order_tools"] = self._order_tools(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _order_tools(self, order: Order) -> list[tuple[str, str]]:
        """The buttons the order's state offers (the services still judge each request)."""
        tools: list[tuple[str, str]] = []
        if order.status == OrderStatus.PAID:
            if order.delivery_type == Order.DeliveryType.EXPRESS:
                tools.append(("发货", reverse("admin:orders_order_ship", args=[order.pk])))
            else:
                tools.append(("核销自提", reverse("admin:orders_order_redeem", args=[order.pk])))
        if order.status == OrderStatus.PENDING_PAYMENT:
            tools.append(("取消订单", reverse("admin:orders_order_cancel", args=[order.pk])))
        if order.status in REFUNDABLE_STATUSES:
            try:  # the payments app provides the refund form
                refund_url = reverse("admin:payments_refund_add")
            except NoReverseMatch:
                pass
            else:
                tools.append(("申请退款", f"{refund_url}?order={order.no}"))
        return tools

    # --- extra views ---
    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("bulk-ship/", view(self.bulk_ship_view), name="orders_order_bulk_ship"),
            path(
                "bulk-ship/template/",
                view(self.bulk_ship_template_view),
                name="orders_order_bulk_ship_template",
            ),
            path("pickup/", view(self.pickup_view), name="orders_order_pickup"),
            path("<path:object_id>/ship/", view(self.ship_view), name="orders_order_ship"),
            path("<path:object_id>/redeem/", view(self.redeem_view), name="orders_order_redeem"),
            path("<path:object_id>/cancel/", view(self.cancel_view), name="orders_order_cancel"),
            *super().get_urls(),
        ]

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

    def ship_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        order = self._order_for_tool(request, object_id)
        if isinstance(order, HttpResponse):
            return order
        form = ShipForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            carrier, tracking_no = form.cleaned_data["carrier"], form.cleaned_data["tracking_no"]
            try:
                order_ship(
                    order_id=order.pk,
                    carrier=carrier,
                    tracking_no=tracking_no,
                    actor=_actor(request),
                )
            except DomainError as exc:
                self.message_user(request, f"发货失败：{exc.message}", messages.ERROR)
            except ValidationError as exc:
                self.message_user(request, "；".join(exc.messages), messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"订单 {order.no} 已发货（{carrier_label(carrier)} {tracking_no}），已通知买家",
                    messages.SUCCESS,
                )
            return HttpResponseRedirect(self._change_url(order))
        return self._order_page(request, order, form, title="发货", submit="确认发货")

    def redeem_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        order = self._order_for_tool(request, object_id)
        if isinstance(order, HttpResponse):
            return order
        form = PickupCodeForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                pickup_redeem(
                    code=form.cleaned_data["code"], actor=_actor(request), order_id=order.pk
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

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        order = self._order_for_tool(request, object_id)
        if isinstance(order, HttpResponse):
            return order
        form = CancelForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                order_cancel(
                    order_id=order.pk, actor=_actor(request), reason=form.cleaned_data["reason"]
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
                        actor=_actor(request),
                        order_id=_int_or_none(request.POST.get("order_id")),
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

    def bulk_ship_view(self, request: HttpRequest) -> HttpResponse:
        """批量发货: upload 订单号 / 快递公司 / 快递单号; every row is shipped on its own and
        reported (a bad row does not stop the others)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = ShipmentUploadForm(
            request.POST if request.method == "POST" else None,
            request.FILES if request.method == "POST" else None,
        )
        results: list[ShipmentResult] = []
        file_error = ""
        if form.is_bound and form.is_valid():
            rows = shipment_rows_read(form.cleaned_data["file"])
            try:
                results.extend(orders_ship_bulk(rows=rows, actor=_actor(request)))
            except ShipmentFileInvalid as exc:
                file_error = exc.message
            counts = {
                outcome: sum(result.outcome == outcome for result in results)
                for outcome in (
                    ShipmentResult.SHIPPED,
                    ShipmentResult.ALREADY_SHIPPED,
                    ShipmentResult.ERROR,
                )
            }
            summary = (
                f"发货 {counts[ShipmentResult.SHIPPED]} 单，"
                f"此前已发货 {counts[ShipmentResult.ALREADY_SHIPPED]} 单，"
                f"失败 {counts[ShipmentResult.ERROR]} 单"
            )
            level = messages.WARNING if counts[ShipmentResult.ERROR] else messages.SUCCESS
            if results:
                self.message_user(request, summary, level)
            if file_error:
                self.message_user(request, file_error, messages.ERROR)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "批量发货",
            "form": form,
            "results": results,
            "submitted": form.is_bound and form.is_valid(),
            "carriers": "、".join(CARRIERS.values()),
        }
        return TemplateResponse(request, "admin/orders/order/bulk_ship.html", context)

    def bulk_ship_template_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return FileResponse(
            io.BytesIO(shipment_template_xlsx()), as_attachment=True, filename="批量发货模板.xlsx"
        )

    # --- bulk actions ---
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
                refused.append(f"{no}（{_status_label(status)}）")
                continue
            try:
                order_cancel(
                    order_id=order_id, actor=_actor(request), reason=form.cleaned_data["reason"]
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

    @admin.action(description="导出所选订单（Excel）", permissions=["view"])
    def export_selected(self, request: HttpRequest, queryset: QuerySet[Order]) -> FileResponse:
        orders = Order.objects.filter(pk__in=queryset.prefetch_related(None).values("pk"))
        file, _ = orders_export_tempfile(orders)
        filename = f"订单导出-{timezone.localtime():%Y%m%d-%H%M%S}.xlsx"
        return FileResponse(file, as_attachment=True, filename=filename)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


# --- delivery settings ---
@admin.register(PickupPoint)
class PickupPointAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "region",
        "phone",
        "hours",
        "is_active",
        "waiting_count",
        "order_count",
    ]
    list_editable = ["is_active"]
    list_filter = ["is_active", "city"]
    search_fields = ["name", "address", "district"]
    fieldsets = [
        (None, {"fields": ["name", "is_active"]}),
        ("地址", {"fields": ["province", "city", "district", "address", "latitude", "longitude"]}),
        ("联系", {"fields": ["phone", "hours"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PickupPoint]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                order_total=Count("orders"),
                waiting_total=Count("orders", filter=Q(orders__status=OrderStatus.PAID)),
            )
        )

    @admin.display(description="地址")
    def region(self, point: PickupPoint) -> str:
        return f"{point.city}{point.district}{point.address}"

    @admin.display(description="待自提", ordering="waiting_total")
    def waiting_count(self, point: PickupPoint) -> str:
        total = getattr(point, "waiting_total", 0)
        if not total:
            return "0"
        url = reverse("admin:orders_order_changelist")
        return format_html(
            '<a href="{}?pickup_point__id__exact={}&status__exact=paid">{}</a>',
            url,
            point.pk,
            total,
        )

    @admin.display(description="订单数", ordering="order_total")
    def order_count(self, point: PickupPoint) -> int:
        return getattr(point, "order_total", 0)


# Provincial-level divisions as addresses name them (WeChat's chooseAddress, our Address).
PROVINCES = (
    "北京市",
    "天津市",
    "上海市",
    "重庆市",
    "河北省",
    "山西省",
    "辽宁省",
    "吉林省",
    "黑龙江省",
    "江苏省",
    "浙江省",
    "安徽省",
    "福建省",
    "江西省",
    "山东省",
    "河南省",
    "湖北省",
    "湖南省",
    "广东省",
    "海南省",
    "四川省",
    "贵州省",
    "云南省",
    "陕西省",
    "甘肃省",
    "青海省",
    "台湾省",
    "内蒙古自治区",
    "广西壮族自治区",
    "西藏自治区",
    "宁夏回族自治区",
    "新疆维吾尔自治区",
    "香港特别行政区",
    "澳门特别行政区",
)
PROVINCE_SUFFIXES = ("壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区", "自治区", "省", "市")


def _province_short(name: str) -> str:
    for suffix in PROVINCE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


PROVINCE_BY_NAME = {name: name for name in PROVINCES} | {
    _province_short(name): name for name in PROVINCES
}


def provinces_parse(text: str) -> list[str]:
    """ "浙江, 江苏省、上海" → ["浙江省", "江苏省", "上海市"]. Raises: ValidationError."""
    for separator in ("，", "、", ";", "；", "\n", " "):
        text = text.replace(separator, ",")
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in PROVINCE_BY_NAME]
    if unknown:
        raise ValidationError(
            f"不认识的省份：{'、'.join(unknown)}（请写全称或简称，如 浙江省 / 浙江）"
        )
    return list(dict.fromkeys(PROVINCE_BY_NAME[name] for name in names))


class FreightRuleForm(forms.ModelForm):
    regions = forms.CharField(
        label="地区(省)",
        required=False,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="用逗号分隔，如：浙江省,江苏省,上海市；留空表示其他地区",
    )

    class Meta:
        model = FreightRule
        fields = ["regions", "first_units", "first_fee_fen", "extra_units", "extra_fee_fen"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["regions"] = ",".join(self.instance.regions or [])

    def clean_regions(self) -> list[str]:
        return provinces_parse(self.cleaned_data.get("regions") or "")


class FreightRuleFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        seen: set[str] = set()
        fallback_rules = 0
        for form in self.forms:
            if not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            regions = form.cleaned_data.get("regions") or []
            if not regions:
                fallback_rules += 1
            repeated = seen.intersection(regions)
            if repeated:
                raise ValidationError(
                    f"同一省份只能出现在一条规则里：{'、'.join(sorted(repeated))}"
                )
            seen.update(regions)
        if fallback_rules > 1:
            raise ValidationError("只能有一条「其他地区」规则（地区留空）")


class FreightRuleInline(admin.TabularInline):
    model = FreightRule
    form = FreightRuleForm
    formset = FreightRuleFormSet
    extra = 1


@admin.register(FreightTemplate)
class FreightTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "charge_by", "free_over", "is_default", "rule_count", "product_count"]
    list_filter = ["charge_by", "is_default"]
    search_fields = ["name"]
    autocomplete_fields = ["products"]
    inlines = [FreightRuleInline]
    fields = ["name", "charge_by", "free_over_fen", "is_default", "products"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[FreightTemplate]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                rule_total=Count("rules", distinct=True),
                product_total=Count("products", distinct=True),
            )
        )

    @admin.display(description="满额包邮", ordering="free_over_fen")
    def free_over(self, template: FreightTemplate) -> str:
        return f"满 {_money(template.free_over_fen)}" if template.free_over_fen else "不包邮"

    @admin.display(description="规则数", ordering="rule_total")
    def rule_count(self, template: FreightTemplate) -> int:
        return getattr(template, "rule_total", 0)

    @admin.display(description="适用商品数", ordering="product_total")
    def product_count(self, template: FreightTemplate) -> int:
        return getattr(template, "product_total", 0)


# --- shoppers' addresses: read-only for the merchant ---
@admin.register(Address)
class AddressAdmin(admin.ModelAdmin):
    list_display = ["name", "phone", "region", "member", "is_default", "updated_at"]
    list_select_related = ["member"]
    list_filter = ["is_default", "province"]
    search_fields = ["name", "phone", "member__phone", "member__nickname", "detail"]
    search_help_text = "按收货人、电话、会员手机号/昵称或详细地址搜索"

    @admin.display(description="地址")
    def region(self, address: Address) -> str:
        return f"{address.province}{address.city}{address.district}{address.detail}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
