"""WeChat mini-program endpoints on api.weixin.qq.com, as wechatpy 1.8.18 calls them."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import secrets
from typing import Any

from PIL import Image, ImageDraw

from wechat_sim.errors import BadRequestError, WeChatError
from wechat_sim.server import Request, Response, bytes_response, json_response, route

SCENE_PATTERN = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}")
WXACODE_MIN_WIDTH, WXACODE_MAX_WIDTH, WXACODE_DEFAULT_WIDTH = 280, 1280, 430
WXACODE_MODULES = 21  # a QR-like grid; WeChat's round codes are not worth imitating


def check_app_credentials(request: Request) -> None:
    config = request.state.config
    if request.query.get("appid") != config.appid:
        raise WeChatError(40013, "invalid appid")
    if request.query.get("secret") != config.secret:
        raise WeChatError(40125, "invalid appsecret")


def require_token(request: Request) -> None:
    request.state.token_check(request.query.get("access_token"))


@route("GET", "/cgi-bin/token")
def token(request: Request) -> Response:
    if request.query.get("grant_type") != "client_credential":
        raise WeChatError(40002, "invalid grant_type")
    check_app_credentials(request)
    access_token = request.state.token_issue()
    return json_response({"access_token": access_token, "expires_in": 7200})


@route("GET", "/sns/jscode2session")
def jscode2session(request: Request) -> Response:
    # wechatpy appends ?access_token= here too; WeChat ignores it, and so do we.
    check_app_credentials(request)
    if request.query.get("grant_type") != "authorization_code":
        raise WeChatError(40002, "invalid grant_type")
    code = request.query.get("js_code")
    if not code:
        raise WeChatError(41008, "missing code")
    login = request.state.login_code_redeem(code)
    session_key = base64.b64encode(secrets.token_bytes(16)).decode()
    session = {"openid": login.openid, "session_key": session_key}
    if login.unionid:
        session["unionid"] = login.unionid
    return json_response(session)


@route("POST", "/wxa/business/getuserphonenumber")
def phone_number(request: Request) -> Response:
    require_token(request)
    phone = request.state.phone_code_redeem(str(request.json().get("code") or ""))
    pure_phone = phone.removeprefix("+86")
    return json_response(
        {
            "errcode": 0,
            "errmsg": "ok",
            "phone_info": {
                "phoneNumber": phone,
                "purePhoneNumber": pure_phone,
                "countryCode": "86",
                "watermark": {
                    "timestamp": int(request.state.now()),
                    "appid": request.state.config.appid,
                },
            },
        }
    )


@route("POST", "/cgi-bin/message/subscribe/send")
def subscribe_send(request: Request) -> Response:
    require_token(request)
    body = request.json()
    touser, template_id, data = body.get("touser"), body.get("template_id"), body.get("data")
    if not isinstance(touser, str) or not request.state.openid_is_known(touser):
        raise WeChatError(40003, "invalid openid")
    if not isinstance(template_id, str) or not template_id:
        raise WeChatError(40037, "invalid template_id")
    check_template_data(data)
    msgid = request.state.message_record(
        {"touser": touser, "template_id": template_id, "page": body.get("page"), "data": data}
    )
    return json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})


def check_template_data(data: Any) -> None:
    if not isinstance(data, dict) or not data:
        raise WeChatError(47003, "argument invalid! data is empty")
    for key, entry in data.items():
        if not isinstance(entry, dict) or "value" not in entry:
            raise WeChatError(47003, f"argument invalid! data.{key}.value is empty")
        if not isinstance(entry["value"], str):
            raise WeChatError(47003, f"argument invalid! data.{key}.value must be a string")
        if not entry["value"]:
            raise WeChatError(47003, f"argument invalid! data.{key}.value is empty")


@route("POST", "/wxa/getwxacodeunlimit")
def wxacode_unlimited(request: Request) -> Response:
    require_token(request)
    try:
        body = request.json()
    except BadRequestError:
        body = {}  # WeChat reports a non-JSON body with the scene error
    scene, page = body.get("scene"), body.get("page") or ""
    if not isinstance(scene, str) or not SCENE_PATTERN.fullmatch(scene):
        raise WeChatError(40169, "invalid length for scene, or the data is not json string")
    if not isinstance(page, str) or page.startswith("/") or "?" in page:
        raise WeChatError(41030, "invalid page")  # pages are "pages/x/y": no leading /, no query
    width = body.get("width", WXACODE_DEFAULT_WIDTH)
    if (
        not isinstance(width, int)
        or isinstance(width, bool)
        or not WXACODE_MIN_WIDTH <= width <= WXACODE_MAX_WIDTH
    ):
        raise WeChatError(40097, "invalid args")
    digest = hashlib.sha256(f"{scene}\n{page}".encode()).digest()
    color = digest[:3] if body.get("auto_color") else line_color(body.get("line_color"))
    png = wxacode_png(
        digest=digest, width=width, color=color, is_hyaline=bool(body.get("is_hyaline"))
    )
    return bytes_response(png, content_type="image/png")


def line_color(value: Any) -> tuple[int, int, int]:
    try:
        rgb = tuple(min(255, max(0, int(value[channel]))) for channel in "rgb")
    except (KeyError, TypeError, ValueError):
        return (0, 0, 0)
    return rgb[0], rgb[1], rgb[2]


def wxacode_png(*, digest: bytes, width: int, color: tuple[int, ...], is_hyaline: bool) -> bytes:
    """A width x width PNG whose module pattern is derived from `digest`."""
    bits = int.from_bytes(digest + hashlib.sha256(digest).digest(), "big")
    background = (255, 255, 255, 0 if is_hyaline else 255)
    foreground = (*color, 255)
    image = Image.new("RGBA", (width, width), background)
    draw = ImageDraw.Draw(image)
    cell = width / (WXACODE_MODULES + 2)  # one module of quiet zone on each side

    def square(row: int, col: int, size: int, fill: tuple[int, ...]) -> None:
        x0, y0 = (col + 1) * cell, (row + 1) * cell
        draw.rectangle((x0, y0, x0 + size * cell - 1, y0 + size * cell - 1), fill=fill)

    for index in range(WXACODE_MODULES * WXACODE_MODULES):
        if bits >> index & 1:
            square(*divmod(index, WXACODE_MODULES), 1, foreground)
    last = WXACODE_MODULES - 7
    for row, col in ((0, 0), (0, last), (last, 0)):  # QR-style finder squares
        square(row, col, 7, foreground)
        square(row + 1, col + 1, 5, background)
        square(row + 2, col + 2, 3, foreground)

    buffer = io.BytesIO()
    (image if is_hyaline else image.convert("RGB")).save(buffer, format="PNG")
    return buffer.getvalue()


@route("POST", "/wxa/sec/order/upload_shipping_info")
def upload_shipping_info(request: Request) -> Response:
    require_token(request)
    body = request.json()
    order_key, shipping_list = body.get("order_key"), body.get("shipping_list")
    if not isinstance(order_key, dict) or not isinstance(shipping_list, list) or not shipping_list:
        raise WeChatError(47001, "data format error")
    request.state.shipping_record(body)
    return json_response({"errcode": 0, "errmsg": "ok"})
