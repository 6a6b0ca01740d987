"""WeChat Pay (v2, as wechatpy speaks it). With mall/wechat.py the only module importing wechatpy.

Every call raises `WechatPayError` (WeChat answered FAIL; `err_code` tells why) or
`WechatUnavailable` (no answer). Notifications are parsed and verified here; the services decide.
"""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from wechatpy.exceptions import (
    InvalidAppIdException,
    InvalidMchIdException,
    InvalidSignatureException,
    WeChatPayException,
)
from wechatpy.pay import WeChatPay

from mall.errors import DomainError, WechatUnavailable

logger = logging.getLogger(__name__)

SUCCESS_XML = b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"


def fail_xml(message: str) -> bytes:
    return (
        "<xml><return_code><![CDATA[FAIL]]></return_code>"
        f"<return_msg><![CDATA[{message}]]></return_msg></xml>"
    ).encode()


class WechatPayError(WechatUnavailable):
    """WeChat Pay answered FAIL. `err_code` is WeChat's (ORDERPAID, NOTENOUGH, …)."""

    def __init__(self, err_code: str, message: str) -> None:
        DomainError.__init__(self, None, err_code=err_code, errmsg=message)
        self.err_code = err_code
        self.errmsg = message


class InvalidNotification(Exception):
    """A notification that is forged, malformed or not for this merchant: answer FAIL, write nothing."""


class MallWeChatPay(WeChatPay):
    def __init__(self, *, api_base: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.API_BASE_URL = api_base


_local = threading.local()


def client() -> MallWeChatPay:
    """One client per thread (requests.Session is not documented as thread-safe)."""
    key = (
        settings.WECHAT_PAY_API_BASE,
        settings.WECHAT_APPID,
        settings.WECHAT_API_KEY,
        settings.WECHAT_MCH_ID,
        settings.WECHAT_MCH_CERT,
        settings.WECHAT_MCH_KEY,
    )
    cached = getattr(_local, "client", None)
    if cached is None or cached[0] != key:
        pay = MallWeChatPay(
            api_base=key[0],
            appid=key[1],
            api_key=key[2],
            mch_id=key[3],
            mch_cert=key[4] or None,
            mch_key=key[5] or None,
            timeout=settings.WECHAT_TIMEOUT_SECONDS,
        )
        _local.client = cached = (key, pay)
    return cached[1]


def _call(action: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except WeChatPayException as exc:
        if exc.return_code is None:  # HTTP failure, not a WeChat answer
            raise WechatUnavailable(action=action) from exc
        err_code = exc.errcode or (exc.result_code or exc.return_code or "FAIL")
        raise WechatPayError(str(err_code), str(exc.errmsg or exc.return_msg or "")) from exc
    except (requests.RequestException, ValueError) as exc:
        logger.warning("wechat pay %s unreachable: %s", action, exc)
        raise WechatUnavailable(action=action) from exc


SHANGHAI = ZoneInfo("Asia/Shanghai")


def time_parse(text: str, fmt: str = "%Y%m%d%H%M%S") -> datetime:
    """WeChat's times (time_end yyyyMMddHHmmss, success_time yyyy-MM-dd HH:mm:ss) are
    Asia/Shanghai wall-clock times.

    Raises: ValueError.
    """
    return datetime.strptime(text, fmt).replace(tzinfo=SHANGHAI)


def unified_order(
    *,
    out_trade_no: str,
    total_fee: int,
    body: str,
    openid: str,
    notify_url: str,
    client_ip: str,
    time_expire: datetime,
    attach: str = "",
) -> str:
    """JSAPI prepay for the mini-program; returns the prepay_id."""
    result = _call(
        "unifiedorder",
        client().order.create,
        "JSAPI",
        body[:128],
        total_fee,
        notify_url,
        client_ip=client_ip,
        user_id=openid,
        out_trade_no=out_trade_no,
        # wechatpy formats it with strftime: pass a datetime in Beijing time, not a string.
        time_expire=time_expire.astimezone(SHANGHAI),
        attach=attach or None,
    )
    return str(result["prepay_id"])


def jsapi_params(prepay_id: str) -> dict[str, str]:
    """What the mini-program passes to wx.requestPayment."""
    params = client().jsapi.get_jsapi_params(prepay_id)
    return {key: params[key] for key in ("timeStamp", "nonceStr", "package", "signType", "paySign")}


def order_query(out_trade_no: str) -> dict[str, Any]:
    return dict(_call("orderquery", client().order.query, out_trade_no=out_trade_no))


def order_close(out_trade_no: str) -> None:
    _call("closeorder", client().order.close, out_trade_no)


def refund_apply(
    *,
    out_trade_no: str,
    out_refund_no: str,
    total_fee: int,
    refund_fee: int,
    notify_url: str,
    reason: str = "",
) -> dict[str, Any]:
    return dict(
        _call(
            "refund",
            client().refund.apply,
            total_fee,
            refund_fee,
            out_refund_no,
            out_trade_no=out_trade_no,
            notify_url=notify_url,
            refund_desc=reason[:80] or None,
        )
    )


def refund_query(out_refund_no: str) -> dict[str, Any]:
    return dict(_call("refundquery", client().refund.query, out_refund_no=out_refund_no))


def bill_download(bill_date: date) -> str | None:
    """The day's bill as WeChat's text; None when WeChat says there is no bill for that day."""
    try:
        return str(
            _call("downloadbill", client().tools.download_bill, bill_date.strftime("%Y%m%d"), "ALL")
        )
    except WechatPayError as exc:
        if "No Bill Exist" in exc.errmsg:
            return None
        raise


def payment_notification_parse(body: bytes) -> dict[str, Any]:
    """Verify a payment notification (signature, appid, mch_id, success) and return its fields.

    Raises: InvalidNotification.
    """
    pay = client()
    try:
        data = pay.parse_payment_result(body)
    except InvalidSignatureException as exc:
        raise InvalidNotification("bad signature or not XML") from exc
    except (AttributeError, TypeError, ValueError) as exc:
        # <xml> holding text instead of fields, nested elements, a signed non-integer total_fee
        raise InvalidNotification(f"malformed: {exc.__class__.__name__}") from exc
    if not isinstance(data, dict):
        raise InvalidNotification("malformed: not a field list")
    if data.get("appid") != pay.appid or data.get("mch_id") != pay.mch_id:
        raise InvalidNotification("appid or mch_id is not ours")
    if data.get("return_code") != "SUCCESS" or data.get("result_code") != "SUCCESS":
        raise InvalidNotification(f"not a success: {data.get('err_code')}")
    for field in ("out_trade_no", "transaction_id", "total_fee"):
        if not data.get(field):
            raise InvalidNotification(f"missing {field}")
    return data


def refund_notification_parse(body: bytes) -> dict[str, Any]:
    """Decrypt a refund notification's req_info and return its fields.

    Raises: InvalidNotification.
    """
    try:
        data = client().parse_refund_notify_result(body)
    except (InvalidAppIdException, InvalidMchIdException) as exc:
        raise InvalidNotification("appid or mch_id is not ours") from exc
    except Exception as exc:  # wechatpy raises bare errors on bad base64, padding or XML
        raise InvalidNotification(f"cannot decrypt: {exc.__class__.__name__}") from exc
    if not isinstance(data, dict):
        raise InvalidNotification("malformed: not a field list")
    for field in ("out_refund_no", "refund_status", "refund_fee"):
        if not data.get(field):
            raise InvalidNotification(f"missing {field}")
    return dict(data)
