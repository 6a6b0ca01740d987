"""Everything the simulator remembers, behind one lock.

Handlers run on ThreadingHTTPServer threads, so every read and write goes through a method that
takes `lock`. `reset()` rebuilds every dataclass field from its default, so a field added here
(e.g. by the pay side) is forgotten on reset without further code.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any

from wechat_sim.config import SimConfig
from wechat_sim.errors import WeChatError
from wechat_sim.scheduler import DeliveryScheduler

ACCESS_TOKEN_TTL_SECONDS = 7200
CODE_TTL_SECONDS = 5 * 60  # login and phone codes, as on WeChat
REQUEST_LOG_LIMIT = 10_000  # per-call detail kept; counts are exact regardless
CHINA_TZ = timezone(timedelta(hours=8))

TOKEN_ERRORS = {
    41001: "access_token missing",
    40001: "invalid credential, access_token is invalid or not latest",
    42001: "access_token expired",
}


@dataclass
class LoginCode:
    openid: str
    unionid: str | None
    issued_at: float
    is_used: bool = False


@dataclass
class PhoneCode:
    phone: str
    issued_at: float
    is_used: bool = False


@dataclass
class SimState:
    config: SimConfig = field(default_factory=SimConfig)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # --- clock: moved by /_sim/advance-clock instead of sleeping ---
    clock_offset_seconds: float = 0.0

    # --- access tokens: only the latest one is valid, as when several processes fetch ---
    access_token: str | None = None
    access_token_expires_at: float = 0.0
    stale_tokens: set[str] = field(default_factory=set)

    # --- mini-program ---
    login_codes: dict[str, LoginCode] = field(default_factory=dict)
    known_openids: set[str] = field(default_factory=set)
    phone_codes: dict[str, PhoneCode] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    last_msgid: int = 0
    shipping_uploads: list[dict[str, Any]] = field(default_factory=list)  # oldest first

    # --- WeChat Pay (owned by wechat_sim/pay*.py): trades, refunds, notification faults ---
    trades: dict[str, Any] = field(default_factory=dict)  # out_trade_no -> pay_ledger.Trade
    refunds: dict[str, Any] = field(default_factory=dict)  # out_refund_no -> pay_ledger.Refund
    notify_faults: dict[str, Any] = field(default_factory=dict)  # knobs from /_sim/faults
    prepay_index: dict[str, str] = field(default_factory=dict)  # prepay_id -> out_trade_no
    transaction_index: dict[str, str] = field(
        default_factory=dict
    )  # transaction_id -> out_trade_no
    refund_id_index: dict[str, str] = field(default_factory=dict)  # refund_id -> out_refund_no
    pay_sequence: int = 0  # makes transaction and refund ids unique
    pay_rng: random.Random = field(default_factory=random.Random, repr=False)  # fault draws
    notifications: list[dict[str, Any]] = field(default_factory=list)  # attempts, oldest first
    # Runs notification attempts, retries and refund completions; survives reset (it is cancelled).
    notifier: DeliveryScheduler = field(init=False, repr=False, compare=False)

    # --- test controls ---
    injected_errors: dict[str, deque[tuple[int, str]]] = field(default_factory=dict)
    request_counts: Counter[str] = field(default_factory=Counter)
    request_log: deque[dict[str, Any]] = field(
        default_factory=lambda: deque(maxlen=REQUEST_LOG_LIMIT)
    )

    def __post_init__(self) -> None:
        self.notifier = DeliveryScheduler(clock=self.now)

    def reset(self) -> None:
        fresh = SimState()
        with self.lock:
            self.notifier.cancel_all()  # pending notifications and refund completions are forgotten
            for f in fields(self):
                if f.name not in ("config", "lock", "notifier"):
                    setattr(self, f.name, getattr(fresh, f.name))

    # --- clock ---

    def now(self) -> float:
        return time.time() + self.clock_offset_seconds

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.now(), tz=CHINA_TZ).isoformat()

    def clock_advance(self, seconds: float) -> None:
        with self.lock:
            self.clock_offset_seconds += seconds
        self.notifier.wake()  # retries and refund completions now due run without sleeping

    # --- access tokens ---

    def token_issue(self) -> str:
        with self.lock:
            if self.access_token:
                self.stale_tokens.add(self.access_token)
            self.access_token = secrets.token_urlsafe(48)
            self.access_token_expires_at = self.now() + ACCESS_TOKEN_TTL_SECONDS
            return self.access_token

    def token_check(self, token: str | None) -> None:
        """Raises WeChatError 41001/40001/42001; the latter two make wechatpy refetch and retry."""
        with self.lock:
            if not token:
                errcode = 41001
            elif token == self.access_token and self.now() < self.access_token_expires_at:
                return
            elif token == self.access_token or token in self.stale_tokens:
                errcode = 42001
            else:
                errcode = 40001
        raise WeChatError(errcode, TOKEN_ERRORS[errcode])

    def token_expire(self) -> None:
        with self.lock:
            if self.access_token:
                self.stale_tokens.add(self.access_token)
            self.access_token = None

    # --- login and phone codes ---

    def login_code_issue(self, *, openid: str, unionid: str | None) -> str:
        code = secrets.token_hex(16)
        with self.lock:
            self.login_codes[code] = LoginCode(openid, unionid, issued_at=self.now())
            self.known_openids.add(openid)
        return code

    def login_code_redeem(self, code: str) -> LoginCode:
        """Raises WeChatError 40029 (unknown or expired) or 40163 (already used)."""
        with self.lock:
            login = self.login_codes.get(code)
            if login is None or self.now() - login.issued_at > CODE_TTL_SECONDS:
                raise WeChatError(40029, "invalid code")
            if login.is_used:
                raise WeChatError(40163, "code been used")
            login.is_used = True
            return login

    def openid_is_known(self, openid: str) -> bool:
        with self.lock:
            return openid in self.known_openids

    def phone_code_issue(self, *, phone: str) -> str:
        code = secrets.token_hex(32)
        with self.lock:
            self.phone_codes[code] = PhoneCode(phone, issued_at=self.now())
        return code

    def phone_code_redeem(self, code: str) -> str:
        """Raises WeChatError 40029 for an unknown, expired or reused code."""
        with self.lock:
            entry = self.phone_codes.get(code)
            if entry is None or entry.is_used or self.now() - entry.issued_at > CODE_TTL_SECONDS:
                raise WeChatError(40029, "invalid code")
            entry.is_used = True
            return entry.phone

    # --- records ---

    def message_record(self, message: dict[str, Any]) -> int:
        with self.lock:
            self.last_msgid += 1
            self.messages.append(
                {**message, "msgid": self.last_msgid, "received_at": self.now_iso()}
            )
            return self.last_msgid

    def message_list(self, *, touser: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in reversed(self.messages) if touser in (None, m["touser"])]

    def shipping_record(self, upload: dict[str, Any]) -> None:
        with self.lock:
            self.shipping_uploads.append({**upload, "received_at": self.now_iso()})

    def shipping_list(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(reversed(self.shipping_uploads))

    # --- injected errors and the request log ---

    def error_inject(self, *, path: str, errcode: int, errmsg: str, times: int) -> None:
        with self.lock:
            self.injected_errors.setdefault(path, deque()).extend([(errcode, errmsg)] * times)

    def injected_error_take(self, path: str) -> tuple[int, str] | None:
        with self.lock:
            queued = self.injected_errors.get(path)
            return queued.popleft() if queued else None

    def request_record(self, *, method: str, path: str, query: dict[str, str]) -> None:
        with self.lock:
            self.request_counts[path] += 1
            self.request_log.append(
                {"method": method, "path": path, "query": query, "received_at": self.now_iso()}
            )

    def request_summary(self, *, path: str | None = None) -> dict[str, Any]:
        with self.lock:
            results = [r for r in reversed(self.request_log) if path in (None, r["path"])]
            count = self.request_counts[path] if path else self.request_counts.total()
            return {"count": count, "counts": dict(self.request_counts), "results": results}
