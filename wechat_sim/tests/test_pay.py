"""WeChat Pay v2 against stock wechatpy, with a stdlib HTTP server playing the shop's notify_url."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import xmltodict
from wechatpy.exceptions import InvalidSignatureException, WeChatPayException
from wechatpy.pay import WeChatPay

from wechat_sim import RunningSimulator, start_simulator
from wechat_sim.config import DEFAULT_API_KEY, DEFAULT_APPID, DEFAULT_MCH_ID, SimConfig
from wechat_sim.pay_notify import RETRY_INTERVALS_SECONDS
from wechat_sim.pay_sign import (
    decrypt_req_info,
    notify_ack,
    parse_xml,
    sign,
    signature_is_valid,
    to_xml,
)
from wechat_sim.state import CHINA_TZ

FAST = 1000  # the retry ladder at 1000x: 15 s becomes 15 ms


def make_pay(base_url: str, *, appid: str = DEFAULT_APPID, api_key: str = DEFAULT_API_KEY):
    """Stock wechatpy pointed at the simulator, as wechat-protocol.md §5.2 does it."""

    class SimWeChatPay(WeChatPay):
        API_BASE_URL = base_url

    return SimWeChatPay(appid=appid, api_key=api_key, mch_id=DEFAULT_MCH_ID)


class Shop:
    """The shop's notify_url: records each POST; answers FAIL `failures` times, then SUCCESS."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.failures = 0
        self.condition = threading.Condition()
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with shop.condition:
                    shop.bodies.append(body)
                    is_success = shop.failures <= 0
                    shop.failures -= 1
                    shop.condition.notify_all()
                reply = notify_ack(is_success=is_success, message="OK" if is_success else "busy")
                self.send_response(200)
                self.send_header("Content-Length", str(len(reply.encode())))
                self.end_headers()
                self.wfile.write(reply.encode())

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/wechat/notify"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[bytes]:
        with self.condition:
            assert self.condition.wait_for(lambda: len(self.bodies) >= count, timeout), (
                f"{len(self.bodies)} of {count} notifications arrived"
            )
            return list(self.bodies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def running() -> Iterator[RunningSimulator]:
    with start_simulator(config=SimConfig()) as simulator:
        yield simulator


@pytest.fixture
def sim(running: RunningSimulator) -> RunningSimulator:
    running.state.reset()
    return running


@pytest.fixture
def shop() -> Iterator[Shop]:
    server = Shop()
    yield server
    server.close()


@pytest.fixture
def pay(sim: RunningSimulator) -> WeChatPay:
    return make_pay(sim.base_url)


def control(sim: RunningSimulator, endpoint: str, payload: dict | None = None) -> requests.Response:
    return requests.post(sim.base_url + "_sim/" + endpoint, json=payload or {}, timeout=5)


def sim_get(sim: RunningSimulator, endpoint: str, **params: str) -> dict:
    response = requests.get(sim.base_url + "_sim/" + endpoint, params=params, timeout=5)
    response.raise_for_status()
    return response.json()


def faults(sim: RunningSimulator, **knobs: Any) -> dict:
    response = control(sim, "faults", knobs)
    response.raise_for_status()
    return response.json()["faults"]


def wait_until(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
    return value


def order_create(pay: WeChatPay, shop: Shop, out_trade_no: str = "ORDER1", total_fee: int = 100):
    return pay.order.create(
        "JSAPI",
        "龙井绿茶 250g",
        total_fee,
        shop.url,
        client_ip="127.0.0.1",
        user_id="o_alice",
        out_trade_no=out_trade_no,
        attach="member=7",
    )


def shopper_pays(sim: RunningSimulator, prepay_id: str) -> dict:
    response = control(sim, "pay", {"prepay_id": prepay_id})
    assert response.status_code == 200, response.text
    return response.json()


def order_paid(sim, pay, shop, out_trade_no: str = "ORDER1", total_fee: int = 100) -> dict:
    """An order paid, its notification acknowledged by the shop."""
    paid = shopper_pays(sim, order_create(pay, shop, out_trade_no, total_fee)["prepay_id"])
    wait_until(lambda: sim_get(sim, "notifications", out_trade_no=out_trade_no)["results"])
    return paid


def attempts(sim: RunningSimulator, out_trade_no: str, kind: str = "payment") -> list[dict]:
    """Delivery attempts, oldest first."""
    results = sim_get(sim, "notifications", out_trade_no=out_trade_no, kind=kind)["results"]
    return list(reversed(results))


def pay_error(call: Callable[[], Any]) -> WeChatPayException:
    with pytest.raises(WeChatPayException) as caught:
        call()
    return caught.value


# --- unifiedorder and paying ---


def test_unifiedorder_gives_prepay_id_whose_jsapi_params_verify(sim, pay, shop):
    # when
    order = order_create(pay, shop)
    params = pay.jsapi.get_jsapi_params(order["prepay_id"])
    # then
    assert order["return_code"] == order["result_code"] == "SUCCESS"
    assert order["trade_type"] == "JSAPI"
    assert order["prepay_id"].startswith("wx")
    assert pay.check_signature(dict(order))  # replies are MD5-signed like WeChat's
    expected = sign({k: v for k, v in params.items() if k != "paySign"}, DEFAULT_API_KEY)
    assert params["paySign"] == expected
    # the mini-program's wx.requestPayment parameters (no appId) are accepted by /_sim/pay
    request_payment = {k: v for k, v in params.items() if k != "appId"}
    assert control(sim, "pay", {**request_payment, "paySign": "0" * 32}).status_code == 400
    assert control(sim, "pay", request_payment).json()["ok"] is True


def test_payment_notification_verifies_with_wechatpy(sim, pay, shop):
    # given
    order = order_create(pay, shop, total_fee=1999)
    # when
    paid = shopper_pays(sim, order["prepay_id"])
    # then
    notification = pay.parse_payment_result(shop.wait_for(1)[0])
    assert notification["result_code"] == notification["return_code"] == "SUCCESS"
    assert notification["total_fee"] == notification["cash_fee"] == 1999
    assert notification["transaction_id"] == paid["transaction_id"]
    assert len(paid["transaction_id"]) == 28
    assert notification["out_trade_no"] == paid["out_trade_no"] == "ORDER1"
    assert (notification["openid"], notification["attach"]) == ("o_alice", "member=7")
    assert len(notification["time_end"]) == 14
    [attempt] = wait_until(lambda: attempts(sim, "ORDER1"))
    assert attempt["http_status"] == 200
    assert attempt["answered_success"] is True
    assert sim_get(sim, "notifications", out_trade_no="ORDER1")["pending"] == 0


def test_pay_control_refuses_unknown_and_repeated_payments(sim, pay, shop):
    # given
    order = order_create(pay, shop)
    shopper_pays(sim, order["prepay_id"])
    # when
    unknown = control(sim, "pay", {"prepay_id": "wx_nope"})
    repeated = control(sim, "pay", {"prepay_id": order["prepay_id"]})
    # then
    assert unknown.status_code == 400
    assert repeated.status_code == 409
    assert repeated.json()["out_trade_no"] == "ORDER1"


def test_identical_repeat_returns_same_prepay_id_and_changed_amount_is_refused(sim, pay, shop):
    # given
    first = order_create(pay, shop)
    # when
    again = order_create(pay, shop)
    changed = pay_error(lambda: order_create(pay, shop, total_fee=101))
    # then
    assert again["prepay_id"] == first["prepay_id"]
    assert changed.errcode == "OUT_TRADE_NO_USED"


def test_ordering_a_paid_or_closed_order_again_is_refused(sim, pay, shop):
    # given
    order_paid(sim, pay, shop, "PAID1")
    order_create(pay, shop, "CLOSED1")
    pay.order.close("CLOSED1")
    # when
    paid = pay_error(lambda: order_create(pay, shop, "PAID1"))
    closed = pay_error(lambda: order_create(pay, shop, "CLOSED1"))
    # then
    assert (paid.result_code, paid.errcode) == ("FAIL", "ORDERPAID")
    assert closed.errcode == "ORDERCLOSED"


def test_unifiedorder_field_errors(sim, pay, shop):
    # when
    no_openid = pay_error(
        lambda: pay.order.create("JSAPI", "tea", 100, shop.url, client_ip="127.0.0.1")
    )
    zero_fee = pay_error(lambda: order_create(pay, shop, total_fee=0))  # wechatpy drops int 0
    negative_fee = pay_error(lambda: order_create(pay, shop, total_fee=-1))
    long_number = pay_error(lambda: order_create(pay, shop, out_trade_no="X" * 33))
    relative_url = pay_error(
        lambda: pay.order.create("JSAPI", "tea", 1, "/notify", client_ip="1.1.1.1", user_id="o")
    )
    soon = datetime.now(CHINA_TZ) + timedelta(minutes=2)
    short_expiry = pay_error(
        lambda: pay.order.create(
            "JSAPI", "tea", 1, shop.url, client_ip="1.1.1.1", user_id="o", time_expire=soon
        )
    )
    # then
    assert no_openid.errcode == negative_fee.errcode == long_number.errcode == "PARAM_ERROR"
    assert (zero_fee.errcode, zero_fee.errmsg) == ("LACK_PARAMS", "缺少参数total_fee")
    assert relative_url.errcode == short_expiry.errcode == "PARAM_ERROR"
    assert no_openid.errmsg == "JSAPI支付必须传openid"
    assert "time_expire时间过短" in short_expiry.errmsg


def test_envelope_errors(sim, shop):
    # given
    wrong_key = make_pay(sim.base_url, api_key="k" * 32)
    wrong_appid = make_pay(sim.base_url, appid="wx00000000000000ff")
    bad_appid = make_pay(sim.base_url, appid="not-an-appid")
    # when
    bad_sign = pay_error(lambda: order_create(wrong_key, shop))
    not_matching = pay_error(lambda: order_create(wrong_appid, shop))
    not_existing = pay_error(lambda: order_create(bad_appid, shop))
    not_xml = requests.post(sim.base_url + "pay/unifiedorder", data=b"{}", timeout=5)
    unsigned = requests.post(
        sim.base_url + "pay/orderquery",
        data=to_xml({"appid": DEFAULT_APPID, "mch_id": DEFAULT_MCH_ID, "nonce_str": "n"}),
        timeout=5,
    )
    # then
    assert (bad_sign.return_code, bad_sign.return_msg) == ("FAIL", "签名错误")
    assert not_matching.errcode == "APPID_MCHID_NOT_MATCH"
    assert not_existing.errcode == "APPID_NOT_EXIST"
    assert parse_xml(not_xml.content) == {"return_code": "FAIL", "return_msg": "XML格式错误"}
    assert parse_xml(unsigned.content)["err_code"] == "LACK_PARAMS"


def test_hmac_sha256_requests_are_accepted(sim, pay, shop):
    # when
    order = pay.order.create(
        "JSAPI",
        "tea",
        100,
        shop.url,
        client_ip="127.0.0.1",
        user_id="o_alice",
        out_trade_no="HMAC1",
        sign_type="HMAC-SHA256",
    )
    wrong_key = make_pay(sim.base_url, api_key="k" * 32)
    refused = pay_error(
        lambda: wrong_key.order.create(
            "JSAPI", "tea", 100, shop.url, client_ip="1.1.1.1", user_id="o", sign_type="HMAC-SHA256"
        )
    )
    # then
    assert order["prepay_id"]
    assert refused.return_msg == "签名错误"


# --- orderquery and closeorder ---


def test_orderquery_before_and_after_payment(sim, pay, shop):
    # given
    order = order_create(pay, shop)
    # when
    before = pay.order.query(out_trade_no="ORDER1")
    paid = shopper_pays(sim, order["prepay_id"])
    after = pay.order.query(transaction_id=paid["transaction_id"])
    unknown = pay_error(lambda: pay.order.query(out_trade_no="NOPE"))
    # then
    assert before["trade_state"] == "NOTPAY"
    assert "transaction_id" not in before
    assert after["trade_state"] == "SUCCESS"
    assert after["out_trade_no"] == "ORDER1"
    assert (after["total_fee"], after["cash_fee"], after["openid"]) == ("100", "100", "o_alice")
    assert after["attach"] == "member=7"
    assert len(after["time_end"]) == 14
    assert unknown.errcode == "ORDERNOTEXIST"


def test_closeorder(sim, pay, shop):
    # given
    order = order_create(pay, shop)
    order_paid(sim, pay, shop, "PAID1")
    # when
    closed = pay.order.close("ORDER1")
    state = pay.order.query(out_trade_no="ORDER1")["trade_state"]
    again = pay_error(lambda: pay.order.close("ORDER1"))
    paid = pay_error(lambda: pay.order.close("PAID1"))
    # then
    assert closed["result_code"] == "SUCCESS"
    assert state == "CLOSED"
    assert again.errcode == "ORDERCLOSED"
    assert paid.errcode == "ORDERPAID"
    assert control(sim, "pay", {"prepay_id": order["prepay_id"]}).status_code == 400


# --- notifications and their faults ---


def test_shop_answering_fail_gets_retries(sim, pay, shop):
    # given
    faults(sim, speed=FAST)
    shop.failures = 2
    # when
    order_paid(sim, pay, shop)
    # then
    bodies = shop.wait_for(3)
    tried = wait_until(lambda: len(attempts(sim, "ORDER1")) == 3 and attempts(sim, "ORDER1"))
    assert [a["answered_success"] for a in tried] == [False, False, True]
    assert [a["attempt"] for a in tried] == [0, 1, 2]
    assert all(pay.parse_payment_result(body)["total_fee"] == 100 for body in bodies)
    time.sleep(RETRY_INTERVALS_SECONDS[2] / FAST * 2)
    assert len(shop.bodies) == 3  # acknowledged: no further retries


def test_duplicate_knob_sends_extra_copies(sim, pay, shop):
    # given
    faults(sim, duplicate=2)
    # when
    order_paid(sim, pay, shop)
    # then
    bodies = shop.wait_for(3)
    parsed = [pay.parse_payment_result(body) for body in bodies]
    assert {p["transaction_id"] for p in parsed} == {parsed[0]["transaction_id"]}
    tried = wait_until(lambda: len(attempts(sim, "ORDER1")) == 3 and attempts(sim, "ORDER1"))
    assert [a["variant"] for a in tried] == ["genuine", "duplicate", "duplicate"]


def test_forge_knob_sends_a_badly_signed_copy_first(sim, pay, shop):
    # given
    faults(sim, forge=1)
    # when
    order_paid(sim, pay, shop)
    # then
    forged, genuine = shop.wait_for(2)
    with pytest.raises(InvalidSignatureException):
        pay.parse_payment_result(forged)
    assert pay.parse_payment_result(genuine)["out_trade_no"] == "ORDER1"


def test_wrong_amount_knob_sends_a_signed_wrong_amount_then_the_genuine_one(sim, pay, shop):
    # given
    faults(sim, wrong_amount=1)
    # when
    order_paid(sim, pay, shop, total_fee=500)
    # then
    wrong, genuine = (pay.parse_payment_result(body) for body in shop.wait_for(2))
    assert wrong["total_fee"] == 501
    assert genuine["total_fee"] == 500


def test_dropped_first_attempt_is_delivered_by_the_retry(sim, pay, shop):
    # given
    faults(sim, drop=1, speed=FAST)
    # when
    shopper_pays(sim, order_create(pay, shop)["prepay_id"])
    # then
    [body] = shop.wait_for(1)
    assert pay.parse_payment_result(body)["out_trade_no"] == "ORDER1"
    tried = wait_until(lambda: len(attempts(sim, "ORDER1")) == 2 and attempts(sim, "ORDER1"))
    assert [(a["dropped"], a["answered_success"]) for a in tried] == [(True, False), (False, True)]


def test_advancing_the_clock_fires_the_retry(sim, pay, shop):
    # given a shop that fails once, at real speed (next retry 15 s away)
    shop.failures = 1
    order_paid(sim, pay, shop)
    assert sim_get(sim, "notifications", out_trade_no="ORDER1")["pending"] == 1
    # when
    control(sim, "advance-clock", {"seconds": 15}).raise_for_status()
    # then
    shop.wait_for(2)
    assert wait_until(lambda: attempts(sim, "ORDER1")[-1]["answered_success"])


def test_reset_cancels_pending_retries(sim, pay, shop):
    # given
    shop.failures = 1
    order_paid(sim, pay, shop)
    # when
    control(sim, "reset").raise_for_status()
    # then
    assert sim_get(sim, "notifications")["pending"] == 0
    assert sim_get(sim, "trades")["results"] == []
    assert faults(sim) == {}


def test_seeded_reorder_still_delivers_everything(sim, pay, shop):
    # given
    faults(sim, reorder=True, duplicate=3, seed=7)
    # when
    order_paid(sim, pay, shop)
    # then
    bodies = shop.wait_for(4)
    assert all(pay.parse_payment_result(b)["out_trade_no"] == "ORDER1" for b in bodies)


def test_faults_merge_and_validate(sim):
    # when
    faults(sim, duplicate=1)
    merged = faults(sim, delay_s=0.5)
    removed = faults(sim, delay_s=None)
    unknown = control(sim, "faults", {"explode": True})
    bad = control(sim, "faults", {"drop": 2})
    # then
    assert merged == {"duplicate": 1, "delay_s": 0.5}
    assert removed == sim_get(sim, "faults")["faults"] == {"duplicate": 1}
    assert unknown.status_code == bad.status_code == 400


# --- refunds ---


def test_partial_refunds_then_notenough_and_idempotent_repeats(sim, pay, shop):
    # given
    faults(sim, refund_delay_s=0)
    order_paid(sim, pay, shop, total_fee=1000)
    # when
    first = pay.refund.apply(1000, 300, "R1", out_trade_no="ORDER1", notify_url=shop.url)
    repeat = pay.refund.apply(1000, 300, "R1", out_trade_no="ORDER1", notify_url=shop.url)
    second = pay.refund.apply(1000, 700, "R2", out_trade_no="ORDER1")
    too_much = pay_error(lambda: pay.refund.apply(1000, 1, "R3", out_trade_no="ORDER1"))
    changed = pay_error(lambda: pay.refund.apply(1000, 200, "R1", out_trade_no="ORDER1"))
    wrong_total = pay_error(lambda: pay.refund.apply(999, 1, "R4", out_trade_no="ORDER1"))
    # then
    assert first["refund_id"] == repeat["refund_id"]
    assert (first["refund_fee"], second["refund_fee"]) == ("300", "700")
    assert too_much.errcode == "NOTENOUGH"
    assert changed.errcode == wrong_total.errcode == "PARAM_ERROR"
    assert pay.order.query(out_trade_no="ORDER1")["trade_state"] == "REFUND"
    [trade] = sim_get(sim, "trades", out_trade_no="ORDER1")["results"]
    assert [r["out_refund_no"] for r in trade["refunds"]] == ["R1", "R2"]
    assert trade["refunded_fee"] == 1000


def test_refund_of_unpaid_order_is_refused(sim, pay, shop):
    # given
    order_create(pay, shop)
    # when
    refused = pay_error(lambda: pay.refund.apply(100, 100, "R1", out_trade_no="ORDER1"))
    # then
    assert refused.errcode == "ORDERNOTEXIST"


def test_refund_notification_decrypts_with_wechatpy(sim, pay, shop):
    # given
    faults(sim, refund_delay_s=0)
    paid = order_paid(sim, pay, shop, total_fee=1000)
    # when
    accepted = pay.refund.apply(
        1000, 250, "R1", transaction_id=paid["transaction_id"], notify_url=shop.url
    )
    # then
    body = shop.wait_for(2)[1]
    outer = xmltodict.parse(body)["xml"]
    assert "sign" not in outer
    result = pay.parse_refund_notify_result(body)
    assert result == decrypt_req_info(outer["req_info"], DEFAULT_API_KEY) | {
        "total_fee": 1000,
        "settlement_total_fee": 1000,
        "refund_fee": 250,
        "settlement_refund_fee": 250,
    }
    assert result["refund_status"] == "SUCCESS"
    assert result["refund_id"] == accepted["refund_id"]
    assert (result["out_refund_no"], result["out_trade_no"]) == ("R1", "ORDER1")
    assert len(result["success_time"]) == 19
    assert wait_until(lambda: attempts(sim, "ORDER1", kind="refund"))[0]["answered_success"]


def test_refundquery_processing_then_success(sim, pay, shop):
    # given a refund that takes 60 s of simulated time
    faults(sim, refund_delay_s=60)
    order_paid(sim, pay, shop, total_fee=1000)
    pay.refund.apply(1000, 400, "R1", out_trade_no="ORDER1", notify_url=shop.url)
    # when
    processing = pay.refund.query(out_refund_no="R1")
    control(sim, "advance-clock", {"seconds": 60}).raise_for_status()
    shop.wait_for(2)
    done = pay.refund.query(out_trade_no="ORDER1")
    unknown = pay_error(lambda: pay.refund.query(out_refund_no="NOPE"))
    # then
    assert (processing["refund_count"], processing["refund_status_0"]) == ("1", "PROCESSING")
    assert "refund_success_time_0" not in processing
    assert done["refund_status_0"] == "SUCCESS"
    assert (done["out_refund_no_0"], done["refund_fee_0"]) == ("R1", "400")
    assert done["refund_recv_accout_0"]
    assert len(done["refund_success_time_0"]) == 19
    assert unknown.errcode == "REFUNDNOTEXIST"


# --- downloadbill ---


def bill_parse(text: str) -> tuple[list[str], list[list[str]], list[str], list[str]]:
    lines = text.removeprefix("\ufeff").split("\r\n")
    assert lines[-1] == ""  # every line ends in CRLF
    header, *rows, summary_header, summary, _ = lines
    fields = [[field.removeprefix("`") for field in row.split(",`")] for row in rows]
    return header.split(","), fields, summary_header.split(","), summary[1:].split(",`")


def test_downloadbill_lists_the_days_payments_and_refunds(sim, pay, shop):
    # given
    faults(sim, refund_delay_s=0)
    order_paid(sim, pay, shop, "ORDER1", total_fee=1000)
    order_paid(sim, pay, shop, "ORDER2", total_fee=250)
    pay.refund.apply(1000, 300, "R1", out_trade_no="ORDER1")
    today = datetime.now(CHINA_TZ).date()
    # when
    text = pay.tools.download_bill(today)
    success_text = pay.tools.download_bill(today, bill_type="SUCCESS")
    refund_text = pay.tools.download_bill(today, bill_type="REFUND")
    no_bill = pay_error(lambda: pay.tools.download_bill(today - timedelta(days=1)))
    # then
    header, rows, summary_header, summary = bill_parse(text)
    assert len(header) == 27
    assert all(len(row) == 27 for row in rows)
    column = {name: [row[header.index(name)] for row in rows] for name in header}
    assert column["商户订单号"] == ["ORDER1", "ORDER2", "ORDER1"]
    assert column["交易状态"] == ["SUCCESS", "SUCCESS", "REFUND"]
    assert column["应结订单金额"] == ["10.00", "2.50", "0.00"]
    assert column["退款金额"] == ["0.00", "0.00", "3.00"]
    assert column["手续费"] == ["0.06000", "0.02000", "-0.02000"]
    assert column["费率"] == ["0.60%"] * 3
    assert summary_header[0] == "总交易单数"
    assert summary == ["3", "12.50", "3.00", "0.00", "0.06000", "12.50", "3.00"]
    assert int(summary[0]) == len(rows)
    assert bill_parse(success_text)[0][-2:] == ["订单金额", "费率备注"]
    assert len(bill_parse(success_text)[1]) == 2
    assert len(bill_parse(refund_text)[0]) == 29
    assert no_bill.return_msg == "No Bill Exist"


def test_sign_helpers_round_trip():
    # given
    params = {"b": "2", "a": "1", "empty": "", "sign_type": "HMAC-SHA256"}
    # when
    signed = {**params, "sign": sign(params, DEFAULT_API_KEY, "HMAC-SHA256")}
    # then
    assert signature_is_valid(signed, DEFAULT_API_KEY)
    assert not signature_is_valid(signed, "k" * 32)
    assert parse_xml(to_xml({"a": "x]]>y", "n": 5})) == {"a": "x]]>y", "n": "5"}
