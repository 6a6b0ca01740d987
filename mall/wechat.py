"""The mini-program side of WeChat, through wechatpy (payments/wechat.py does WeChat Pay).

Base URLs come from settings, so the same code talks to WeChat in production and to `wechat_sim`
in tests, the demo and benchmarks. Every function raises `WechatApiError` when WeChat answers an
errcode and `WechatUnavailable` when it cannot be reached; callers map the errcodes they
understand (a bad login code) to their own errors.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

from .errors import WechatApiError, WechatUnavailable

logger = logging.getLogger(__name__)

ERRCODE_SYSTEM_BUSY = -1
ERRCODE_INVALID_CODE = 40029
ERRCODE_CODE_USED = 40163
ERRCODE_MISSING_CODE = 41008
ERRCODE_USER_REFUSED = 43101


class MallWeChatClient(WeChatClient):
    """wechatpy's client with every base URL (token included, hard-coded upstream) from settings."""

    def __init__(self, *, api_base: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.API_BASE_URL = api_base + "cgi-bin/"
        self.wxa.API_BASE_URL = api_base
        self._token_url = api_base + "cgi-bin/token"

    def fetch_access_token(self) -> dict[str, Any]:
        return self._fetch_access_token(
            url=self._token_url,
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


@functools.cache
def _client_for(
    api_base: str, appid: str, secret: str, redis_url: str, timeout: int
) -> MallWeChatClient:
    # WeChat keeps only the latest access token valid: every process must share one through
    # Redis, or each fetch would invalidate the others' tokens (a 40001 storm).
    if redis_url:
        import redis

        session = RedisStorage(redis.Redis.from_url(redis_url), prefix="wechatpy")
    else:
        session = MemoryStorage()
    return MallWeChatClient(
        api_base=api_base, appid=appid, secret=secret, session=session, timeout=timeout
    )


def client() -> MallWeChatClient:
    return _client_for(
        settings.WECHAT_API_BASE,
        settings.WECHAT_APPID,
        settings.WECHAT_SECRET,
        settings.REDIS_URL,
        settings.WECHAT_TIMEOUT_SECONDS,
    )


@contextmanager
def _translated_errors(action: str) -> Iterator[None]:
    try:
        yield
    except WeChatClientException as exc:
        if exc.errcode is None:  # an HTTP error status, not a WeChat answer
            logger.warning("wechat %s: HTTP failure %s", action, exc)
            raise WechatUnavailable(action=action) from exc
        raise WechatApiError(int(exc.errcode), str(exc.errmsg)) from exc
    except (requests.RequestException, ValueError) as exc:
        logger.warning("wechat %s unreachable: %s", action, exc)
        raise WechatUnavailable(action=action) from exc


@dataclass(frozen=True)
class WechatSession:
    openid: str
    session_key: str
    unionid: str | None


def code_to_session(code: str) -> WechatSession:
    with _translated_errors("jscode2session"):
        data = client().wxa.code_to_session(code)
    return WechatSession(
        openid=data["openid"], session_key=data.get("session_key", ""), unionid=data.get("unionid")
    )


def phone_number(code: str) -> str:
    """The pure phone number (no country code) behind a getPhoneNumber button code."""
    with _translated_errors("getuserphonenumber"):
        # wechatpy 1.8 has no method for the new phone API; _post honours wxa's base URL.
        data = client().wxa._post("wxa/business/getuserphonenumber", data={"code": code})
    return str(data["phone_info"]["purePhoneNumber"])


def subscribe_message_send(
    *, openid: str, template_id: str, data: dict[str, Any], page: str | None
) -> None:
    with _translated_errors("subscribe_message_send"):
        client().wxa.send_subscribe_message(openid, template_id, data, page=page)


def wxa_code_unlimited(*, scene: str, page: str | None = None, width: int = 430) -> bytes:
    """A mini-program code image for a share poster or an invite."""
    with _translated_errors("getwxacodeunlimit"):
        response = client().wxa.get_wxa_code_unlimited(scene, width=width, page=page)
    if not isinstance(response, requests.Response):  # JSON without errcode: not an image
        raise WechatUnavailable(action="getwxacodeunlimit")
    return response.content


def shipping_info_upload(payload: dict[str, Any]) -> None:
    """小程序发货信息管理: tell WeChat an order was shipped (required for paid mini-program orders)."""
    with _translated_errors("upload_shipping_info"):
        client().wxa._post("wxa/sec/order/upload_shipping_info", data=payload)
