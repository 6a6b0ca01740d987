"""Shipping from the order desk: one order (发货) or an uploaded file of them (批量发货)."""

from __future__ import annotations

import io
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import RegexValidator
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

from mall.errors import DomainError

from ..services import order_ship
from ..services.merchant import CARRIERS, ShipmentResult, carrier_label, orders_ship_bulk
from ..shipment_upload import ShipmentFileInvalid, shipment_rows_read, shipment_template_xlsx
from .desk import OrderDeskBase, admin_actor

UPLOAD_MAX_BYTES = 10 * 1024 * 1024


class ShipForm(forms.Form):
    carrier = forms.ChoiceField(label="快递公司", choices=[("", "请选择"), *CARRIERS.items()])
    tracking_no = forms.CharField(
        label="快递单号",
        max_length=64,
        validators=[RegexValidator(r"^[A-Za-z0-9-]+$", "快递单号只能包含字母、数字和 -")],
    )


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


class OrderShippingViews(OrderDeskBase):
    """OrderAdmin's shipping pages: an order's 发货 button and 批量发货 with its template."""

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
                    actor=admin_actor(request),
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
                results.extend(orders_ship_bulk(rows=rows, actor=admin_actor(request)))
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
