"""The simulator over real HTTP: raw requests for the wire format, stock wechatpy for compatibility."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
import requests
from PIL import Image
from wechatpy import WeChatClient
from wechatpy.client.api import WeChatWxa
from wechatpy.exceptions import WeChatClientException

from wechat_sim import RunningSimulator, start_simulator
from wechat_sim.config import DEFAULT_API_KEY, DEFAULT_APPID, DEFAULT_SECRET, SimConfig

SUBSCRIBE_PATH = "/cgi-bin/message/subscribe/send"
TEMPLATE_DATA = {"thing1": {"value": "龙井绿茶"}, "amount2": {"value": "12.00"}}


def make_client(base_url: str, appid: str = DEFAULT_APPID, secret: str = DEFAULT_SECRET):
    """Stock wechatpy pointed at the simulator, as wechat-protocol.md §5.2 does it."""

    class SimWxa(WeChatWxa):
        API_BASE_URL = base_url

    class SimWeChatClient(WeChatClient):
        API_BASE_URL = base_url + "cgi-bin/"
        wxa = SimWxa()

        def fetch_access_token(self):  # upstream hard-codes api.weixin.qq.com here
            return self._fetch_access_token(
                url=base_url + "cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self.secret,
                },
            )

    return SimWeChatClient(appid, secret)


@pytest.fixture(scope="module")
def running() -> Iterator[RunningSimulator]:
    with start_simulator(config=SimConfig()) as simulator:
        yield simulator


@pytest.fixture
def sim(running: RunningSimulator) -> RunningSimulator:
    running.state.reset()
    return running


def control(sim: RunningSimulator, endpoint: str, payload: dict | None = None) -> dict:
    response = requests.post(sim.base_url + "_sim/" + endpoint, json=payload or {}, timeout=5)
    response.raise_for_status()
    return response.json()


def sim_get(sim: RunningSimulator, endpoint: str, **params: str) -> dict:
    response = requests.get(sim.base_url + "_sim/" + endpoint, params=params, timeout=5)
    response.raise_for_status()
    return response.json()


def token_fetch(sim: RunningSimulator, **overrides: str) -> dict:
    params = {"grant_type": "client_credential", "appid": DEFAULT_APPID, "secret": DEFAULT_SECRET}
    response = requests.get(
        sim.base_url + "cgi-bin/token", params={**params, **overrides}, timeout=5
    )
    assert response.status_code == 200
    return response.json()


def test_default_api_key_is_32_chars():
    assert len(DEFAULT_API_KEY) == 32


def test_token_errors_look_like_wechat(sim):
    # when
    wrong_appid = token_fetch(sim, appid="wx_other")
    wrong_secret = token_fetch(sim, secret="nope")
    wrong_grant = token_fetch(sim, grant_type="password")
    ok = token_fetch(sim)
    # then
    assert wrong_appid["errcode"] == 40013
    assert wrong_secret["errcode"] == 40125
    assert wrong_secret["errmsg"].startswith("invalid appsecret, rid: ")
    assert wrong_grant["errcode"] == 40002
    assert ok["expires_in"] == 7200
    assert ok["access_token"]


def test_login_with_wechatpy(sim):
    # given
    code = control(sim, "codes", {"openid": "o_alice", "unionid": "u_alice"})["code"]
    client = make_client(sim.base_url)
    # when
    session = client.wxa.code_to_session(code)
    # then
    assert session["openid"] == "o_alice"
    assert session["unionid"] == "u_alice"
    assert len(base64.b64decode(session["session_key"])) == 16
    assert sim_get(sim, "requests", path="/cgi-bin/token")["count"] == 1  # wechatpy's extra token


def test_login_code_is_single_use_and_must_exist(sim):
    # given
    code = control(sim, "codes", {"openid": "o_alice"})["code"]
    client = make_client(sim.base_url)
    client.wxa.code_to_session(code)
    # when / then
    with pytest.raises(WeChatClientException) as reused:
        client.wxa.code_to_session(code)
    with pytest.raises(WeChatClientException) as unknown:
        client.wxa.code_to_session("not-a-code")
    assert reused.value.errcode == 40163
    assert unknown.value.errcode == 40029
    assert "rid: " in unknown.value.errmsg


def test_login_code_expires_after_five_minutes(sim):
    # given
    code = control(sim, "codes", {"openid": "o_alice"})["code"]
    control(sim, "advance-clock", {"seconds": 301})
    # when / then
    with pytest.raises(WeChatClientException) as expired:
        make_client(sim.base_url).wxa.code_to_session(code)
    assert expired.value.errcode == 40029


def test_jscode2session_checks_app_credentials(sim):
    # given
    code = control(sim, "codes", {"openid": "o_alice"})["code"]
    params = {"appid": DEFAULT_APPID, "secret": "wrong", "js_code": code}
    # when
    wrong_secret = requests.get(
        sim.base_url + "sns/jscode2session",
        params={**params, "grant_type": "authorization_code"},
        timeout=5,
    ).json()
    missing_code = requests.get(
        sim.base_url + "sns/jscode2session",
        params={
            **params,
            "secret": DEFAULT_SECRET,
            "js_code": "",
            "grant_type": "authorization_code",
        },
        timeout=5,
    ).json()
    # then
    assert wrong_secret["errcode"] == 40125
    assert missing_code["errcode"] == 41008


def test_phone_number(sim):
    # given
    code = control(sim, "phone-codes", {"phone": "13800138000"})["code"]
    client = make_client(sim.base_url)
    # when (wechatpy 1.8.18 has no method for this endpoint)
    answer = client.wxa._post("wxa/business/getuserphonenumber", data={"code": code})
    # then
    assert answer["phone_info"]["purePhoneNumber"] == "13800138000"
    assert answer["phone_info"]["countryCode"] == "86"
    assert answer["phone_info"]["watermark"]["appid"] == DEFAULT_APPID
    with pytest.raises(WeChatClientException) as reused:
        client.wxa._post("wxa/business/getuserphonenumber", data={"code": code})
    assert reused.value.errcode == 40029


def test_subscribe_messages_recorded_newest_first(sim):
    # given
    control(sim, "codes", {"openid": "o_alice"})
    control(sim, "codes", {"openid": "o_bob"})
    client = make_client(sim.base_url)
    # when
    first = client.wxa.send_subscribe_message("o_alice", "TPL_PAID", TEMPLATE_DATA, page="pages/a")
    client.wxa.send_subscribe_message("o_bob", "TPL_PAID", TEMPLATE_DATA)
    client.wxa.send_subscribe_message("o_alice", "TPL_SHIPPED", TEMPLATE_DATA)
    # then
    assert first["errcode"] == 0
    assert isinstance(first["msgid"], int)
    alice = sim_get(sim, "messages", touser="o_alice")["results"]
    assert [m["template_id"] for m in alice] == ["TPL_SHIPPED", "TPL_PAID"]
    assert alice[1]["page"] == "pages/a"
    assert alice[1]["data"] == TEMPLATE_DATA
    assert alice[1]["received_at"].endswith("+08:00")
    assert len(sim_get(sim, "messages")["results"]) == 3


@pytest.mark.parametrize(
    ("touser", "template_id", "data", "errcode"),
    [
        ("o_stranger", "TPL", TEMPLATE_DATA, 40003),
        ("o_alice", "", TEMPLATE_DATA, 40037),
        ("o_alice", "TPL", {"thing1": {"value": ""}}, 47003),
    ],
)
def test_subscribe_send_validates(sim, touser, template_id, data, errcode):
    # given
    control(sim, "codes", {"openid": "o_alice"})
    # when / then
    with pytest.raises(WeChatClientException) as rejected:
        make_client(sim.base_url).wxa.send_subscribe_message(touser, template_id, data)
    assert rejected.value.errcode == errcode
    assert sim_get(sim, "messages")["results"] == []


def test_injected_errors_answer_the_next_calls(sim):
    # given
    control(sim, "codes", {"openid": "o_alice"})
    control(sim, "errors", {"path": SUBSCRIBE_PATH, "errcode": -1, "times": 1})
    control(sim, "errors", {"path": SUBSCRIBE_PATH, "errcode": 43101})
    client = make_client(sim.base_url)
    send = lambda: client.wxa.send_subscribe_message("o_alice", "TPL", TEMPLATE_DATA)  # noqa: E731
    # when / then
    with pytest.raises(WeChatClientException) as busy:
        send()
    with pytest.raises(WeChatClientException) as refused:
        send()
    assert send()["errcode"] == 0
    assert (busy.value.errcode, busy.value.errmsg.split(",")[0]) == (-1, "system error")
    assert refused.value.errcode == 43101
    assert sim_get(sim, "requests", path=SUBSCRIBE_PATH)["count"] == 3
    assert len(sim_get(sim, "messages")["results"]) == 1


def test_expired_token_is_refreshed_by_wechatpy(sim):
    # given
    control(sim, "codes", {"openid": "o_alice"})
    client = make_client(sim.base_url)
    client.wxa.send_subscribe_message("o_alice", "TPL", TEMPLATE_DATA)
    control(sim, "expire-token")
    # when
    answer = client.wxa.send_subscribe_message("o_alice", "TPL", TEMPLATE_DATA)
    # then
    assert answer["errcode"] == 0
    assert sim_get(sim, "requests", path="/cgi-bin/token")["count"] == 2
    assert sim_get(sim, "requests", path=SUBSCRIBE_PATH)["count"] == 3  # ok, 42001, retried ok


def test_stale_and_unknown_tokens(sim):
    # given
    first = token_fetch(sim)["access_token"]
    token_fetch(sim)
    url = sim.base_url + SUBSCRIBE_PATH.lstrip("/")
    # when
    stale = requests.post(url, params={"access_token": first}, data=b"{}", timeout=5).json()
    unknown = requests.post(url, params={"access_token": "forged"}, data=b"{}", timeout=5).json()
    # then
    assert stale["errcode"] == 42001
    assert unknown["errcode"] == 40001
    assert unknown["errmsg"].startswith("invalid credential, access_token is invalid or not latest")


def test_second_client_token_supersedes_the_first(sim):
    # given
    control(sim, "codes", {"openid": "o_alice"})
    first, second = make_client(sim.base_url), make_client(sim.base_url)
    first.wxa.send_subscribe_message("o_alice", "TPL", TEMPLATE_DATA)
    second.wxa.send_subscribe_message(
        "o_alice", "TPL", TEMPLATE_DATA
    )  # a new token: first's is stale
    # when
    answer = first.wxa.send_subscribe_message("o_alice", "TPL", TEMPLATE_DATA)
    # then
    assert answer["errcode"] == 0
    assert sim_get(sim, "requests", path="/cgi-bin/token")["count"] == 3
    assert sim_get(sim, "requests", path=SUBSCRIBE_PATH)["count"] == 4  # one 42001 in there


def test_wxacode_is_a_png_of_the_requested_width(sim):
    # given
    client = make_client(sim.base_url)
    # when
    first = client.wxa.get_wxa_code_unlimited("order=A1", width=300, page="pages/order/detail")
    other = client.wxa.get_wxa_code_unlimited("order=A2", width=300, page="pages/order/detail")
    # then
    assert isinstance(first, requests.Response)
    assert first.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(first.content))
    assert (image.format, image.size) == ("PNG", (300, 300))
    assert first.content != other.content


@pytest.mark.parametrize(
    ("scene", "width", "errcode"),
    [("", 430, 40169), ("x" * 33, 430, 40169), ("中文", 430, 40169), ("ok", 100, 40097)],
)
def test_wxacode_rejects_bad_arguments(sim, scene, width, errcode):
    with pytest.raises(WeChatClientException) as rejected:
        make_client(sim.base_url).wxa.get_wxa_code_unlimited(scene, width=width)
    assert rejected.value.errcode == errcode


def test_shipping_upload_recorded(sim):
    # given
    client = make_client(sim.base_url)
    upload = {
        "order_key": {"order_number_type": 2, "transaction_id": "4200000001"},
        "delivery_mode": 1,
        "logistics_type": 1,
        "shipping_list": [{"tracking_no": "SF1", "express_company": "SF", "item_desc": "茶"}],
        "upload_time": "2024-01-01T12:00:00+08:00",
        "payer": {"openid": "o_alice"},
    }
    # when
    answer = client.wxa._post("wxa/sec/order/upload_shipping_info", data=upload)
    with pytest.raises(WeChatClientException) as rejected:
        client.wxa._post("wxa/sec/order/upload_shipping_info", data={"order_key": {}})
    # then
    assert answer == {"errcode": 0, "errmsg": "ok"}
    assert rejected.value.errcode == 47001
    [recorded] = sim_get(sim, "shipping")["results"]
    assert recorded["shipping_list"] == upload["shipping_list"]


def test_reset_forgets_everything(sim):
    # given
    code = control(sim, "codes", {"openid": "o_alice"})["code"]
    old_token = token_fetch(sim)["access_token"]
    # when
    assert control(sim, "reset") == {"ok": True}
    # then
    assert sim_get(sim, "requests")["count"] == 0
    unknown = requests.get(
        sim.base_url + "sns/jscode2session",
        params={
            "appid": DEFAULT_APPID,
            "secret": DEFAULT_SECRET,
            "js_code": code,
            "grant_type": "authorization_code",
        },
        timeout=5,
    ).json()
    assert unknown["errcode"] == 40029
    stale = requests.post(
        sim.base_url + "wxa/business/getuserphonenumber",
        params={"access_token": old_token},
        data=b"{}",
        timeout=5,
    ).json()
    assert stale["errcode"] == 40001  # the simulator no longer knows the token at all


def test_unknown_path_and_bad_control_input(sim):
    missing = requests.get(sim.base_url + "no/such/path", timeout=5)
    bad = requests.post(sim.base_url + "_sim/codes", data=b"not json", timeout=5)
    assert missing.status_code == 404
    assert missing.json()["error"] == "no such endpoint"
    assert bad.status_code == 400
