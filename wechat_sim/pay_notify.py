"""Payment and refund notifications: built, sent to the shop's notify_url, retried, recorded.

Every send is a job on `state.notifier` (one scheduler thread, see scheduler.py). An attempt that
the shop does not acknowledge (HTTP 200 with XML return_code SUCCESS) is retried on WeChat's ladder
15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h, each interval divided by the `speed` knob;
after the 16th attempt WeChat gives up. Fault knobs (pay_faults.py) add duplicates, forged or
wrong-amount copies, delays, drops and reordering. Every send, dropped ones included, is appended
to `state.notifications` for GET /_sim/notifications.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from wechat_sim.pay_faults import chance, faults_current, jitter, shuffled
from wechat_sim.pay_ledger import (
    BANK_TYPE,
    REFUND_RECEIVED_BY,
    Refund,
    Trade,
    refund_complete,
)
from wechat_sim.pay_sign import (
    encrypt_req_info,
    nonce_str,
    notify_ack_is_success,
    sign,
    signed,
    to_xml,
)
from wechat_sim.state import SimState

logger = logging.getLogger("wechat_sim")

RETRY_INTERVALS_SECONDS = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600)
RETRY_INTERVALS_SECONDS += (10800, 10800, 10800, 21600, 21600)  # 24h4m in all
NOTIFY_TIMEOUT_SECONDS = 5.0  # WeChat treats a slow answer as no answer
REORDER_WINDOW_SECONDS = 0.2
RESPONSE_EXCERPT_CHARS = 200
FORGERY_KEY = "forged-key-not-the-merchant-key0"  # signs forged copies: right shape, wrong key

GENUINE, DUPLICATE, FORGED, WRONG_AMOUNT = "genuine", "duplicate", "forged", "wrong_amount"

_http = threading.local()  # one requests.Session per scheduler thread


@dataclass(frozen=True)
class Notification:
    kind: str  # "payment" | "refund"
    url: str
    out_trade_no: str
    out_refund_no: str  # "" for payments
    build: Callable[[str], str]  # variant -> XML body
    generation: int  # the scheduler generation it belongs to; a reset makes it stale

    @property
    def labels(self) -> dict[str, str]:
        return {"kind": self.kind, "out_trade_no": self.out_trade_no}


# --- bodies ---


def payment_notification(state: SimState, trade: Trade) -> Notification:
    """The MD5-signed result notification (§3.8) for a trade that has just been paid."""
    config = state.config
    with state.lock:
        fields: dict[str, Any] = {
            "return_code": "SUCCESS",
            "return_msg": "OK",
            "appid": trade.appid,
            "mch_id": trade.mch_id,
            "device_info": trade.device_info or None,
            "result_code": "SUCCESS",
            "openid": trade.openid or None,
            "is_subscribe": "N",
            "trade_type": trade.trade_type,
            "bank_type": BANK_TYPE,
            "total_fee": trade.total_fee,
            "fee_type": trade.fee_type,
            "cash_fee": trade.total_fee,
            "transaction_id": trade.transaction_id,
            "out_trade_no": trade.out_trade_no,
            "attach": trade.attach or None,
            "time_end": trade.time_end,
        }
        generation = state.notifier.generation

    def build(variant: str) -> str:
        body = {**fields, "nonce_str": nonce_str()}
        if variant == WRONG_AMOUNT:
            body["total_fee"] = body["cash_fee"] = trade_wrong_amount(fields["total_fee"])
        body = signed(body, config.api_key)
        if variant == FORGED:
            body["sign"] = sign(body, FORGERY_KEY)
        return to_xml(body)

    return Notification(
        kind="payment",
        url=trade.notify_url,
        out_trade_no=trade.out_trade_no,
        out_refund_no="",
        build=build,
        generation=generation,
    )


def trade_wrong_amount(total_fee: int) -> int:
    return total_fee + 1  # the smallest lie: an amount check must be exact to the fen


def refund_notification(state: SimState, refund: Refund) -> Notification:
    """The refund result notification (§3.9): unsigned outer XML, encrypted `req_info`."""
    config = state.config
    with state.lock:
        trade: Trade = state.trades[refund.out_trade_no]
        root: dict[str, Any] = {
            "transaction_id": refund.transaction_id,
            "out_trade_no": refund.out_trade_no,
            "refund_id": refund.refund_id,
            "out_refund_no": refund.out_refund_no,
            "total_fee": refund.total_fee,
            "settlement_total_fee": refund.total_fee,
            "refund_fee": refund.refund_fee,
            "settlement_refund_fee": refund.refund_fee,
            "refund_status": refund.status,
            "success_time": refund.success_time or None,
            "refund_recv_accout": REFUND_RECEIVED_BY,  # sic: WeChat's spelling
            "refund_account": refund.refund_account,
            "refund_request_source": "API",
        }
        outer = {
            "return_code": "SUCCESS",
            "return_msg": "OK",
            "appid": trade.appid,
            "mch_id": trade.mch_id,
        }
        generation = state.notifier.generation

    def build(variant: str) -> str:
        plaintext = dict(root)
        if variant == WRONG_AMOUNT:
            plaintext["refund_fee"] = plaintext["settlement_refund_fee"] = trade_wrong_amount(
                root["refund_fee"]
            )
        key = FORGERY_KEY if variant == FORGED else config.api_key
        return to_xml(
            {**outer, "nonce_str": nonce_str(), "req_info": encrypt_req_info(plaintext, key)}
        )

    return Notification(
        kind="refund",
        url=refund.notify_url,
        out_trade_no=refund.out_trade_no,
        out_refund_no=refund.out_refund_no,
        build=build,
        generation=generation,
    )


# --- scheduling ---


def notification_start(state: SimState, notification: Notification) -> None:
    """Queue the first attempt (after `delay_s`) and `duplicate` extra copies."""
    faults = faults_current(state)
    first_due_at = state.now() + faults.delay_s

    def due_at() -> float:
        return first_due_at + (jitter(state, REORDER_WINDOW_SECONDS) if faults.reorder else 0.0)

    _schedule(state, notification, due_at(), lambda: _attempt(state, notification, 0))
    for copy in range(faults.duplicate):
        _schedule(
            state, notification, due_at(), lambda copy=copy: _send_copy(state, notification, copy)
        )


def _schedule(
    state: SimState, notification: Notification, due_at: float, run: Callable[[], None]
) -> None:
    state.notifier.schedule(
        due_at, run, generation=notification.generation, labels=notification.labels
    )


def _attempt(state: SimState, notification: Notification, attempt: int) -> None:
    """One rung of the ladder: maybe forged/wrong copies first, then the genuine one (or a drop)."""
    faults = faults_current(state)
    variants = [
        variant
        for variant, probability in ((FORGED, faults.forge), (WRONG_AMOUNT, faults.wrong_amount))
        if chance(state, probability)
    ]
    variants.append(GENUINE)
    if faults.reorder:
        variants = shuffled(state, variants)
    is_dropped = attempt < faults.drop_attempts and chance(state, faults.drop)
    sends = [
        Send(at=state.now_iso(), variant=variant, is_dropped=True)
        if variant == GENUINE and is_dropped
        else _post(state, notification, variant)
        for variant in variants
    ]
    is_acknowledged = any(send.variant == GENUINE and send.is_acknowledged for send in sends)
    if not is_acknowledged and attempt < len(RETRY_INTERVALS_SECONDS):
        interval = RETRY_INTERVALS_SECONDS[attempt] / faults.speed
        _schedule(
            state,
            notification,
            state.now() + interval,
            lambda: _attempt(state, notification, attempt + 1),
        )
    # Recorded after the retry is queued: whoever sees this attempt also sees it pending.
    for send in sends:
        _record(state, notification, attempt, send)


def _send_copy(state: SimState, notification: Notification, copy: int) -> None:
    _record(state, notification, copy, _post(state, notification, DUPLICATE))


@dataclass(frozen=True)
class Send:
    """What one POST of a notification body gave."""

    at: str
    variant: str
    is_dropped: bool = False
    body: str | None = None
    http_status: int | None = None
    is_acknowledged: bool = False  # HTTP 200 with XML return_code SUCCESS
    error: str | None = None
    response: str | None = None


def _post(state: SimState, notification: Notification, variant: str) -> Send:
    at = state.now_iso()
    if state.notifier.generation != notification.generation:
        # Reset while queued: send nothing, and count it acknowledged so nothing is retried.
        return Send(at=at, variant=variant, is_acknowledged=True)
    body = notification.build(variant)
    try:
        response = _session().post(
            notification.url,
            data=body.encode(),
            headers={"Content-Type": "text/xml"},
            timeout=NOTIFY_TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        return Send(at=at, variant=variant, body=body, error=f"{type(exc).__name__}: {exc}")
    return Send(
        at=at,
        variant=variant,
        body=body,
        http_status=response.status_code,
        is_acknowledged=response.status_code == 200 and notify_ack_is_success(response.content),
        response=response.text[:RESPONSE_EXCERPT_CHARS],
    )


def _session() -> requests.Session:
    session: requests.Session | None = getattr(_http, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False  # never route the shop's localhost URL through a proxy
        _http.session = session
    return session


def _record(state: SimState, notification: Notification, attempt: int, send: Send) -> None:
    with state.lock:
        if state.notifier.generation != notification.generation:
            return  # finished after a reset: it belongs to the forgotten run
        state.notifications.append(
            {
                "at": send.at,
                "kind": notification.kind,
                "out_trade_no": notification.out_trade_no,
                "out_refund_no": notification.out_refund_no or None,
                "url": notification.url,
                "attempt": attempt,
                "variant": send.variant,
                "dropped": send.is_dropped,
                "http_status": send.http_status,
                "answered_success": send.is_acknowledged,
                "error": send.error,
                "response": send.response,
                "body": send.body,
            }
        )


def notifications_list(
    state: SimState, *, out_trade_no: str | None = None, kind: str | None = None
) -> dict[str, Any]:
    """Attempts newest first, plus how many sends are still queued for the same filter."""
    with state.lock:
        results = [
            n
            for n in reversed(state.notifications)
            if out_trade_no in (None, n["out_trade_no"]) and kind in (None, n["kind"])
        ]
    labels = {
        key: value
        for key, value in (("out_trade_no", out_trade_no), ("kind", kind))
        if value is not None
    }
    return {"results": results, "pending": state.notifier.pending_count(**labels)}


# --- refunds: PROCESSING → final, then the notification ---


def refund_processing_start(state: SimState, refund: Refund) -> None:
    """Finish the refund after the processing delay (at once when it is 0)."""
    faults = faults_current(state)
    delay = faults.refund_processing_seconds
    generation = state.notifier.generation
    if delay <= 0:
        _refund_finish(state, refund.out_refund_no, generation)
        return
    state.notifier.schedule(
        state.now() + delay,
        lambda: _refund_finish(state, refund.out_refund_no, generation),
        generation=generation,
        labels={"kind": "refund_processing", "out_trade_no": refund.out_trade_no},
    )


def _refund_finish(state: SimState, out_refund_no: str, generation: int) -> None:
    if state.notifier.generation != generation:
        return
    result = faults_current(state).refund_result
    refund = refund_complete(state, out_refund_no, result)
    if refund is not None and refund.notify_url:
        notification_start(state, refund_notification(state, refund))
    elif refund is not None:
        logger.info("refund %s is %s; no notify_url to tell", out_refund_no, result)
