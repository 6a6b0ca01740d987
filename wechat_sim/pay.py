"""WeChat Pay v2 endpoints of api.mch.weixin.qq.com, as unmodified wechatpy 1.8.18 calls them.

Every request is a signed <xml> body (MD5, or HMAC-SHA256 when sign_type says so); every answer is
WeChat's envelope (§3): `return_code=FAIL, return_msg` when the message itself is wrong (not XML,
bad signature), else `return_code=SUCCESS` with appid, mch_id, nonce_str, an MD5 sign and
`result_code` SUCCESS, or FAIL with `err_code`/`err_code_des`. downloadbill answers plain text.
"""

from __future__ import annotations

import gzip
import re
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from wechat_sim.bill import BILL_TYPES, bill_lines, bill_text
from wechat_sim.config import SimConfig
from wechat_sim.pay_ledger import (
    PAID_STATES,
    REFUND_RECEIVED_BY,
    REFUND_SUCCESS,
    PayError,
    refund_apply,
    refunds_find,
    trade_close,
    trade_find,
    trade_order,
)
from wechat_sim.pay_notify import refund_processing_start
from wechat_sim.pay_sign import (
    SIGN_TYPE_MD5,
    SIGN_TYPES,
    PayXmlError,
    nonce_str,
    parse_xml,
    signature_is_valid,
    signed,
    to_xml,
)
from wechat_sim.server import Request, Response, bytes_response, route
from wechat_sim.state import CHINA_TZ, SimState

XML_CONTENT_TYPE = "text/xml; charset=utf-8"
APPID_PATTERN = re.compile(r"wx[0-9a-f]{16}")
OUT_TRADE_NO_PATTERN = re.compile(r"[0-9A-Za-z_\-*|]{1,32}")
OUT_REFUND_NO_PATTERN = re.compile(r"[0-9A-Za-z_\-*|@]{1,64}")
FEN_PATTERN = re.compile(r"[1-9][0-9]{0,10}")  # a positive integer number of fen
ERR_CODE_PATTERN = re.compile(r"[A-Z][A-Z_]+")
TRADE_TYPES = ("JSAPI", "NATIVE", "APP", "MWEB")
REFUND_ACCOUNTS = ("REFUND_SOURCE_UNSETTLED_FUNDS", "REFUND_SOURCE_RECHARGE_FUNDS")
DEFAULT_EXPIRE_SECONDS = 2 * 3600
MIN_EXPIRE_SECONDS = 5 * 60  # "time_expire时间过短，刷卡至少1分钟，其他5分钟"
MAX_LENGTHS = {"body": 128, "attach": 127, "detail": 6000, "device_info": 32, "nonce_str": 32}
BILL_ERROR_INVALID, BILL_ERROR_NONE = "20001", "20002"

PayEndpoint = Callable[[SimState, dict[str, str]], "dict[str, Any] | Response"]


class CommunicationError(Exception):
    """The message itself is refused: return_code=FAIL with this return_msg, nothing else."""

    def __init__(self, return_msg: str) -> None:
        super().__init__(return_msg)
        self.return_msg = return_msg


# --- envelope ---


def xml_response(params: dict[str, Any]) -> Response:
    return bytes_response(to_xml(params).encode(), content_type=XML_CONTENT_TYPE)


def communication_fail(return_msg: str, **extra: str) -> Response:
    return xml_response({"return_code": "FAIL", "return_msg": return_msg, **extra})


def pay_injected_error(errcode: int, errmsg: str) -> Response:
    """An error queued by /_sim/errors: errmsg "SYSTEMERROR" (an err_code) gives result_code=FAIL,
    any other errmsg a return_code=FAIL with it as return_msg. Unsigned: no state here, and
    wechatpy never checks the signature of a synchronous reply."""
    if ERR_CODE_PATTERN.fullmatch(errmsg):
        return xml_response(
            {
                "return_code": "SUCCESS",
                "return_msg": "OK",
                "result_code": "FAIL",
                "err_code": errmsg,
                "err_code_des": f"simulated {errmsg} ({errcode})",
            }
        )
    return communication_fail(errmsg)


def business_reply(config: SimConfig, request: dict[str, str], result: dict[str, Any]) -> Response:
    body = {
        "return_code": "SUCCESS",
        "return_msg": "OK",
        "appid": request.get("appid") or config.appid,
        "mch_id": request.get("mch_id") or config.mch_id,
        "nonce_str": nonce_str(),
        "result_code": "SUCCESS",
        **result,
    }
    return xml_response(signed(body, config.api_key))


def pay_route(*paths: str) -> Callable[[PayEndpoint], PayEndpoint]:
    """Register `endpoint(state, params)` for POST `paths` behind the common envelope."""

    def register(endpoint: PayEndpoint) -> PayEndpoint:
        def handler(request: Request) -> Response:
            return pay_handle(request, endpoint)

        for path in paths:
            route("POST", path, render_error=pay_injected_error)(handler)
        return endpoint

    return register


def pay_handle(request: Request, endpoint: PayEndpoint) -> Response:
    state = request.state
    try:
        params = parse_xml(request.body)
    except PayXmlError:
        return communication_fail("XML格式错误")
    try:
        envelope_check(state.config, params)
        result = endpoint(state, params)
    except CommunicationError as exc:
        return communication_fail(exc.return_msg)
    except PayError as exc:
        result = {"result_code": "FAIL", "err_code": exc.err_code, "err_code_des": exc.err_code_des}
    if isinstance(result, Response):
        return result
    return business_reply(state.config, params, result)


def envelope_check(config: SimConfig, params: dict[str, str]) -> None:
    """Merchant, signature, then appid. Raises PayError or CommunicationError("签名错误")."""
    require(params, "appid", "mch_id", "nonce_str", "sign")
    if params["mch_id"] != config.mch_id:
        raise PayError("MCHID_NOT_EXIST", "商户号不存在")
    if params.get("sign_type", SIGN_TYPE_MD5) not in SIGN_TYPES:
        raise PayError("PARAM_ERROR", "sign_type参数错误，只支持MD5和HMAC-SHA256")
    if not signature_is_valid(params, config.api_key):
        raise CommunicationError("签名错误")
    if not APPID_PATTERN.fullmatch(params["appid"]):
        raise PayError("APPID_NOT_EXIST", "appid不存在")
    if params["appid"] != config.appid:
        raise PayError("APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
    check_lengths(params)


# --- field checks ---


def require(params: dict[str, str], *names: str) -> None:
    for name in names:
        if not params.get(name):
            raise PayError("LACK_PARAMS", f"缺少参数{name}")


def require_one(params: dict[str, str], *names: str) -> None:
    if not any(params.get(name) for name in names):
        raise PayError("LACK_PARAMS", f"缺少参数{'或'.join(names)}")


def check_lengths(params: dict[str, str]) -> None:
    for name, limit in MAX_LENGTHS.items():
        if len(params.get(name, "")) > limit:
            raise PayError("PARAM_ERROR", f"{name}参数长度有误")


def fen(params: dict[str, str], name: str) -> int:
    if not FEN_PATTERN.fullmatch(params[name]):
        raise PayError("PARAM_ERROR", f"{name}参数格式错误，必须是以分为单位的正整数")
    return int(params[name])


def check_notify_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise PayError("PARAM_ERROR", "notify_url参数格式错误，须为完整URL且不能携带参数")
    return url


def check_fee_type(params: dict[str, str], name: str) -> str:
    fee_type = params.get(name) or "CNY"
    if fee_type != "CNY":
        raise PayError("PARAM_ERROR", f"{name}参数错误，只支持CNY")
    return fee_type


def expires_at(state: SimState, time_expire: str) -> float:
    if not time_expire:
        return state.now() + DEFAULT_EXPIRE_SECONDS
    try:
        moment = datetime.strptime(time_expire, "%Y%m%d%H%M%S").replace(tzinfo=CHINA_TZ)
    except ValueError as exc:
        raise PayError("PARAM_ERROR", "time_expire参数格式错误，须为yyyyMMddHHmmss") from exc
    return moment.timestamp()


# --- endpoints ---


@pay_route("/pay/unifiedorder")
def unifiedorder(state: SimState, params: dict[str, str]) -> dict[str, Any]:
    require(params, "body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url")
    require(params, "trade_type")
    trade_type = params["trade_type"]
    if trade_type not in TRADE_TYPES:
        raise PayError("PARAM_ERROR", "trade_type参数错误")
    if trade_type == "JSAPI" and not params.get("openid"):
        raise PayError("PARAM_ERROR", "JSAPI支付必须传openid")
    if trade_type == "NATIVE" and not params.get("product_id"):
        raise PayError("PARAM_ERROR", "NATIVE支付必须传product_id")
    if not OUT_TRADE_NO_PATTERN.fullmatch(params["out_trade_no"]):
        raise PayError("PARAM_ERROR", "out_trade_no参数格式错误，须为32位以内的数字、字母或_-|*")
    expire_at = expires_at(state, params.get("time_expire", ""))
    trade = trade_order(
        state,
        {
            "out_trade_no": params["out_trade_no"],
            "appid": params["appid"],
            "mch_id": params["mch_id"],
            "trade_type": trade_type,
            "body": params["body"],
            "total_fee": fen(params, "total_fee"),
            "fee_type": check_fee_type(params, "fee_type"),
            "notify_url": check_notify_url(params["notify_url"]),
            "openid": params.get("openid", ""),
            "attach": params.get("attach", ""),
            "detail": params.get("detail", ""),
            "device_info": params.get("device_info", ""),
            "product_id": params.get("product_id", ""),
            "spbill_create_ip": params["spbill_create_ip"],
            "sign_type": params.get("sign_type", SIGN_TYPE_MD5),
            "time_expire": datetime.fromtimestamp(expire_at, tz=CHINA_TZ).strftime("%Y%m%d%H%M%S"),
            "expires_at": expire_at,
        },
        min_expire_at=state.now() + MIN_EXPIRE_SECONDS,
    )
    reply: dict[str, Any] = {
        "device_info": trade.device_info or None,
        "trade_type": trade.trade_type,
        "prepay_id": trade.prepay_id,
    }
    if trade_type == "NATIVE":
        reply["code_url"] = f"weixin://wxpay/bizpayurl?pr={secrets.token_urlsafe(6)}"
    if trade_type == "MWEB":
        reply["mweb_url"] = (
            "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb"
            f"?prepay_id={trade.prepay_id}&package={quote(secrets.token_hex(5))}"
        )
    return reply


TRADE_STATE_DESCRIPTIONS = {
    "SUCCESS": "支付成功",
    "REFUND": "订单发生过退款，退款详情请查询退款单",
    "NOTPAY": "订单未支付",
    "CLOSED": "订单已关闭",
}


@pay_route("/pay/orderquery")
def orderquery(state: SimState, params: dict[str, str]) -> dict[str, Any]:
    require_one(params, "transaction_id", "out_trade_no")
    trade = trade_find(
        state,
        transaction_id=params.get("transaction_id", ""),
        out_trade_no=params.get("out_trade_no", ""),
        missing=PayError("ORDERNOTEXIST", "订单不存在"),
    )
    with state.lock:
        reply: dict[str, Any] = {
            "device_info": trade.device_info or None,
            "out_trade_no": trade.out_trade_no,
            "trade_state": trade.state,
            "trade_state_desc": TRADE_STATE_DESCRIPTIONS[trade.state],
            "trade_type": trade.trade_type,
            "total_fee": trade.total_fee,
            "fee_type": trade.fee_type,
            "attach": trade.attach or None,
        }
        if trade.state in PAID_STATES:
            reply |= {
                "openid": trade.openid or None,
                "is_subscribe": "N",
                "bank_type": "OTHERS",
                "cash_fee": trade.total_fee,
                "cash_fee_type": "CNY",
                "transaction_id": trade.transaction_id,
                "time_end": trade.time_end,
            }
    return reply


@pay_route("/pay/closeorder")
def closeorder(state: SimState, params: dict[str, str]) -> dict[str, Any]:
    require(params, "out_trade_no")
    trade_close(state, params["out_trade_no"])
    return {"result_msg": "OK"}


@pay_route("/secapi/pay/refund", "/pay/refund")
def refund(state: SimState, params: dict[str, str]) -> dict[str, Any]:
    require_one(params, "transaction_id", "out_trade_no")
    require(params, "out_refund_no", "total_fee", "refund_fee")
    if not OUT_REFUND_NO_PATTERN.fullmatch(params["out_refund_no"]):
        raise PayError("PARAM_ERROR", "out_refund_no参数格式错误，须为64位以内的数字、字母或_-|*@")
    refund_account = params.get("refund_account") or REFUND_ACCOUNTS[0]
    if refund_account not in REFUND_ACCOUNTS:
        raise PayError("PARAM_ERROR", "refund_account参数错误")
    check_fee_type(params, "refund_fee_type")
    notify_url = params.get("notify_url", "")
    accepted, is_new = refund_apply(
        state,
        {
            "transaction_id": params.get("transaction_id", ""),
            "out_trade_no": params.get("out_trade_no", ""),
            "out_refund_no": params["out_refund_no"],
            "total_fee": fen(params, "total_fee"),
            "refund_fee": fen(params, "refund_fee"),
            "refund_account": refund_account,
            "refund_desc": params.get("refund_desc", ""),
            "notify_url": check_notify_url(notify_url) if notify_url else "",
        },
    )
    if is_new:
        refund_processing_start(state, accepted)
    return {
        "transaction_id": accepted.transaction_id,
        "out_trade_no": accepted.out_trade_no,
        "out_refund_no": accepted.out_refund_no,
        "refund_id": accepted.refund_id,
        "refund_fee": accepted.refund_fee,
        "settlement_refund_fee": accepted.refund_fee,
        "total_fee": accepted.total_fee,
        "settlement_total_fee": accepted.total_fee,
        "fee_type": "CNY",
        "cash_fee": accepted.total_fee,
        "cash_fee_type": "CNY",
        "cash_refund_fee": accepted.refund_fee,
        "coupon_refund_fee": 0,
        "coupon_refund_count": 0,
    }


@pay_route("/pay/refundquery")
def refundquery(state: SimState, params: dict[str, str]) -> dict[str, Any]:
    require_one(params, "refund_id", "out_refund_no", "transaction_id", "out_trade_no")
    trade, refunds = refunds_find(state, params)
    with state.lock:
        reply: dict[str, Any] = {
            "transaction_id": trade.transaction_id,
            "out_trade_no": trade.out_trade_no,
            "total_fee": trade.total_fee,
            "cash_fee": trade.total_fee,
            "fee_type": trade.fee_type,
            "refund_fee": sum(r.refund_fee for r in refunds),
            "refund_count": len(refunds),
            "total_refund_count": len(refunds),
        }
        for n, entry in enumerate(refunds):
            reply |= {
                f"out_refund_no_{n}": entry.out_refund_no,
                f"refund_id_{n}": entry.refund_id,
                f"refund_channel_{n}": "ORIGINAL",
                f"refund_fee_{n}": entry.refund_fee,
                f"settlement_refund_fee_{n}": entry.refund_fee,
                f"refund_status_{n}": entry.status,
                f"refund_account_{n}": entry.refund_account,
                f"refund_recv_accout_{n}": REFUND_RECEIVED_BY,  # sic: WeChat's spelling
                f"refund_success_time_{n}": entry.success_time
                if entry.status == REFUND_SUCCESS
                else None,
            }
    return reply


@pay_route("/pay/downloadbill")
def downloadbill(state: SimState, params: dict[str, str]) -> dict[str, Any] | Response:
    bill_date, bill_type = params.get("bill_date", ""), params.get("bill_type") or "ALL"
    try:
        datetime.strptime(bill_date, "%Y%m%d")  # noqa: DTZ007 - a calendar date, no time zone
    except ValueError:
        return communication_fail("invalid bill_date", error_code=BILL_ERROR_INVALID)
    if bill_type not in (*BILL_TYPES, "RECHARGE_REFUND", "REVOKED"):
        return communication_fail("invalid bill_type", error_code=BILL_ERROR_INVALID)
    lines = bill_lines(state, bill_date=bill_date, bill_type=bill_type)
    if not lines or bill_type not in BILL_TYPES:  # no 充值券 refunds or revoked trades here
        return communication_fail("No Bill Exist", error_code=BILL_ERROR_NONE)
    text = bill_text(lines, bill_type=bill_type).encode()
    if params.get("tar_type") == "GZIP":
        return bytes_response(gzip.compress(text), content_type="application/x-gzip")
    return bytes_response(text, content_type="text/plain; charset=utf-8")
