"""The /_sim/ control API: tests, the demo and benchmarks play the WeChat side through it."""

from __future__ import annotations

from typing import Any

from wechat_sim.errors import BadRequestError
from wechat_sim.server import Request, Response, json_response, route

# errmsg used by /_sim/errors when the caller gives none
KNOWN_ERRMSGS = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    42001: "access_token expired",
    43101: "user refuse to accept the msg",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
}


def required_str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequestError(f"{key} must be a non-empty string")
    return value


@route("POST", "/_sim/codes")
def codes_create(request: Request) -> Response:
    data = request.json()
    unionid = data.get("unionid")
    if unionid is not None and not isinstance(unionid, str):
        raise BadRequestError("unionid must be a string")
    code = request.state.login_code_issue(openid=required_str(data, "openid"), unionid=unionid)
    return json_response({"code": code})


@route("POST", "/_sim/phone-codes")
def phone_codes_create(request: Request) -> Response:
    code = request.state.phone_code_issue(phone=required_str(request.json(), "phone"))
    return json_response({"code": code})


@route("GET", "/_sim/messages")
def messages_list(request: Request) -> Response:
    return json_response(
        {"results": request.state.message_list(touser=request.query.get("touser"))}
    )


@route("GET", "/_sim/shipping")
def shipping_list(request: Request) -> Response:
    return json_response({"results": request.state.shipping_list()})


@route("POST", "/_sim/reset")
def reset(request: Request) -> Response:
    request.state.reset()
    return json_response({"ok": True})


@route("POST", "/_sim/expire-token")
def token_expire(request: Request) -> Response:
    request.state.token_expire()
    return json_response({"ok": True})


@route("POST", "/_sim/errors")
def errors_inject(request: Request) -> Response:
    data = request.json()
    path, errcode, times = required_str(data, "path"), data.get("errcode"), data.get("times", 1)
    if not path.startswith("/") or path.startswith("/_sim/"):
        raise BadRequestError("path must be a WeChat path such as /cgi-bin/message/subscribe/send")
    if not isinstance(errcode, int) or not isinstance(times, int) or times < 1:
        raise BadRequestError("errcode must be an integer and times a positive integer")
    errmsg = data.get("errmsg") or KNOWN_ERRMSGS.get(errcode, "simulated error")
    request.state.error_inject(path=path, errcode=errcode, errmsg=str(errmsg), times=times)
    return json_response({"ok": True})


@route("GET", "/_sim/requests")
def requests_list(request: Request) -> Response:
    return json_response(request.state.request_summary(path=request.query.get("path")))


@route("POST", "/_sim/advance-clock")
def clock_advance(request: Request) -> Response:
    seconds = request.json().get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        raise BadRequestError("seconds must be a non-negative number")
    request.state.clock_advance(seconds)
    return json_response({"now": request.state.now_iso()})
