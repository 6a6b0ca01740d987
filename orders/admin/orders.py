"""The order desk: the list, the detail page and its buttons, the extra pages' URLs."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Prefetch, QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from marketing.services.group_buy import GROUP_BUY_KINDS, group_buy_order_status_label

from ..exports import orders_export_tempfile
from ..models import Order, OrderLine, OrderStatus
from ..services.merchant import carrier_label, order_merchant_note_set
from .cancel import OrderCancelViews
from .desk import money, status_badge
from .inlines import OrderLineInline, OrderStatusLogInline
from .pickup import OrderPickupViews
from .shipping import OrderShippingViews

REFUNDABLE_STATUSES = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.RECEIVED)

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
class OrderAdmin(OrderShippingViews, OrderPickupViews, OrderCancelViews):
    """The list and detail; the extra pages come from the shipping, pickup and cancel mixins and
    are routed here, in get_urls."""

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
        return money(order.payable_fen)

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
        rows: list[tuple[str, str, str, str]] = [("", "商品金额", "", money(order.goods_fen))]
        rows.extend(
            (
                "discount",
                str(discount.get("name") or "优惠"),
                str(discount.get("source", "")),
                f"-{money(int(discount.get('amount_fen', 0)))}",
            )
            for discount in (order.breakdown or {}).get("discounts", [])
        )
        rows.append(("", "运费", "", money(order.shipping_fen)))
        if order.points_fen:
            rows.append(
                (
                    "discount",
                    "积分抵扣",
                    f"{order.points_used} 积分",
                    f"-{money(order.points_fen)}",
                )
            )
        rows.append(("total", "应付", "", money(order.payable_fen)))
        if order.balance_fen:
            rows.append(("", "余额支付", "", f"-{money(order.balance_fen)}"))
        rows.append(("total", "微信支付", "", money(order.wechat_pay_fen)))
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

    # --- bulk actions (cancel_unpaid: see OrderCancelViews) ---
    @admin.action(description="导出所选订单（Excel）", permissions=["view"])
    def export_selected(self, request: HttpRequest, queryset: QuerySet[Order]) -> FileResponse:
        orders = Order.objects.filter(pk__in=queryset.prefetch_related(None).values("pk"))
        file, _ = orders_export_tempfile(orders)
        filename = f"订单导出-{timezone.localtime():%Y%m%d-%H%M%S}.xlsx"
        return FileResponse(file, as_attachment=True, filename=filename)
