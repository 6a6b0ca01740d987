"""The /_sim/ side of WeChat Pay: the shopper pays, faults are set, trades and notifications read."""

from __future__ import annotations

from typing import Any

from wechat_sim.errors import BadRequestError
from wechat_sim.pay_faults import faults_update
from wechat_sim.pay_ledger import PaymentConflictError, trade_pay, trades_list
from wechat_sim.pay_notify import notification_start, notifications_list, payment_notification
from wechat_sim.pay_sign import SIGN_TYPES, sign
from wechat_sim.server import Request, Response, json_response, route

REQUEST_PAYMENT_FIELDS = ("timeStamp", "nonceStr", "package", "signType", "paySign")


def prepay_id_from(request: Request, data: dict[str, Any]) -> str:
    """`{"prepay_id"}`, or the wx.requestPayment parameters, whose paySign must verify."""
    if "package" not in data:
        prepay_id = data.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise BadRequestError("prepay_id must be a non-empty string")
        return prepay_id
    if not all(isinstance(data.get(name), str) for name in REQUEST_PAYMENT_FIELDS):
        raise BadRequestError(f"wx.requestPayment needs {', '.join(REQUEST_PAYMENT_FIELDS)}")
    if data["signType"] not in SIGN_TYPES or not data["package"].startswith("prepay_id="):
        raise BadRequestError("signType must be MD5 or HMAC-SHA256, package prepay_id=…")
    config = request.state.config
    signed_fields = {name: data[name] for name in REQUEST_PAYMENT_FIELDS[:-1]}
    # The mini-program does not pass appId: WeChat knows which app is calling.
    expected = sign({**signed_fields, "appId": config.appid}, config.api_key, data["signType"])
    if data["paySign"] != expected:
        raise BadRequestError("paySign does not verify (appId, timeStamp, nonceStr, package)")
    return data["package"].removeprefix("prepay_id=")


@route("POST", "/_sim/pay")
def shopper_pays(request: Request) -> Response:
    state = request.state
    prepay_id = prepay_id_from(request, request.json())
    try:
        trade = trade_pay(state, prepay_id)
    except PaymentConflictError as exc:
        return json_response(
            {
                "error": str(exc),
                "transaction_id": exc.trade.transaction_id,
                "out_trade_no": exc.trade.out_trade_no,
            },
            status=409,
        )
    notification_start(state, payment_notification(state, trade))
    return json_response(
        {"ok": True, "transaction_id": trade.transaction_id, "out_trade_no": trade.out_trade_no}
    )


@route("GET", "/_sim/faults")
def faults_show(request: Request) -> Response:
    return json_response({"faults": faults_update(request.state, {})})


@route("POST", "/_sim/faults")
def faults_set(request: Request) -> Response:
    return json_response({"faults": faults_update(request.state, request.json())})


@route("GET", "/_sim/trades")
def trades_show(request: Request) -> Response:
    out_trade_no = request.query.get("out_trade_no") or None
    return json_response({"results": trades_list(request.state, out_trade_no=out_trade_no)})


@route("GET", "/_sim/notifications")
def notifications_show(request: Request) -> Response:
    return json_response(
        notifications_list(
            request.state,
            out_trade_no=request.query.get("out_trade_no") or None,
            kind=request.query.get("kind") or None,
        )
    )
