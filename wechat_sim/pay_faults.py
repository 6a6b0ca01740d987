"""Knobs of /_sim/faults: how later notifications and refunds misbehave.

Stored as the raw JSON dict in `SimState.notify_faults` (so reset clears them); read through
`faults_current()`, which fills in defaults. Random choices use `SimState.pay_rng`, reseeded by
the `seed` knob, so a run with a seed is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wechat_sim.errors import BadRequestError
from wechat_sim.pay_ledger import REFUND_RESULTS
from wechat_sim.state import SimState

REFUND_PROCESSING_SECONDS = 5.0  # WeChat's 零钱 refunds take seconds; divided by speed


@dataclass(frozen=True)
class Faults:
    duplicate: int = 0  # extra copies of each notification, sent whatever the shop answers
    delay_s: float = 0.0  # wall seconds before the first attempt
    drop: float = 0.0  # probability that an attempt is lost (shop sees nothing; it is retried)
    drop_attempts: int = 1  # `drop` applies to this many first attempts; later ones get through
    reorder: bool = False  # shuffle queued sends within REORDER_WINDOW_SECONDS
    forge: float = 0.0  # probability an attempt is preceded by a badly signed copy
    wrong_amount: float = (
        0.0  # probability an attempt is preceded by a signed copy, wrong total_fee
    )
    speed: float = 1.0  # divides the retry ladder and the default refund processing time
    refund_delay_s: float | None = None  # wall seconds PROCESSING → final; 0 = at once
    refund_result: str = "SUCCESS"  # SUCCESS | CHANGE | REFUNDCLOSE
    seed: int | str | None = None

    @property
    def refund_processing_seconds(self) -> float:
        if self.refund_delay_s is not None:
            return self.refund_delay_s
        return REFUND_PROCESSING_SECONDS / self.speed


def _number(name: str, value: Any, *, minimum: float = 0.0, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequestError(f"{name} must be a number")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise BadRequestError(f"{name} must be {bounds}")
    return float(value)


def _count(name: str, value: Any, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BadRequestError(f"{name} must be an integer >= {minimum}")
    return value


def _probability(name: str, value: Any) -> float:
    return _number(name, value, maximum=1.0)


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadRequestError(f"{name} must be true or false")
    return value


def _speed(name: str, value: Any) -> float:
    speed = _number(name, value)
    if speed <= 0:
        raise BadRequestError(f"{name} must be positive")
    return speed


def _refund_result(name: str, value: Any) -> str:
    if value not in REFUND_RESULTS:
        raise BadRequestError(f"{name} must be one of {', '.join(REFUND_RESULTS)}")
    return str(value)


def _seed(name: str, value: Any) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequestError(f"{name} must be an integer or a string")
    return value


KNOB_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "duplicate": _count,
    "delay_s": _number,
    "drop": _probability,
    "drop_attempts": lambda name, value: _count(name, value, minimum=1),
    "reorder": _boolean,
    "forge": _probability,
    "wrong_amount": _probability,
    "speed": _speed,
    "refund_delay_s": _number,
    "refund_result": _refund_result,
    "seed": _seed,
}


def faults_update(state: SimState, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge `changes` into the knobs (a null value removes one); returns the knobs now set.

    Raises BadRequestError for an unknown knob or a bad value, changing nothing.
    """
    unknown = sorted(set(changes) - set(KNOB_PARSERS))
    if unknown:
        raise BadRequestError(f"unknown fault knobs: {', '.join(unknown)}")
    parsed = {
        name: None if value is None else KNOB_PARSERS[name](name, value)
        for name, value in changes.items()
    }
    with state.lock:
        for name, value in parsed.items():
            if value is None:
                state.notify_faults.pop(name, None)
            else:
                state.notify_faults[name] = value
        if "seed" in parsed:
            state.pay_rng = random.Random(parsed["seed"])
        return dict(state.notify_faults)


def faults_current(state: SimState) -> Faults:
    with state.lock:
        knobs = dict(state.notify_faults)
    knobs.setdefault("speed", state.config.speed)
    return Faults(**knobs)


def chance(state: SimState, probability: float) -> bool:
    """True with `probability`, drawn from the seeded generator (no draw when it is 0)."""
    if probability <= 0:
        return False
    with state.lock:
        return state.pay_rng.random() < probability


def shuffled(state: SimState, items: list[Any]) -> list[Any]:
    with state.lock:
        result = list(items)
        state.pay_rng.shuffle(result)
        return result


def jitter(state: SimState, window_seconds: float) -> float:
    with state.lock:
        return state.pay_rng.uniform(0.0, window_seconds)
