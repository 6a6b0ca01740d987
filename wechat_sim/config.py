"""Simulator identity and keys; the Django settings import these defaults for the embedded mode."""

from __future__ import annotations

import os
from dataclasses import dataclass

# Test identities only: they sign nothing outside this machine.
DEFAULT_APPID = "wx0000000000000001"
DEFAULT_SECRET = "sim-app-secret-000000000000000000"  # noqa: S105 - public test value
DEFAULT_MCH_ID = "1900000109"
DEFAULT_API_KEY = "simapikey0000000000000000000000k"  # WeChat Pay v2 keys are 32 chars
DEFAULT_SPEED = 1.0


@dataclass(frozen=True)
class SimConfig:
    appid: str = DEFAULT_APPID
    secret: str = DEFAULT_SECRET
    mch_id: str = DEFAULT_MCH_ID
    api_key: str = DEFAULT_API_KEY
    speed: float = DEFAULT_SPEED  # time compression for the pay side's notification retries

    @classmethod
    def from_env(cls) -> SimConfig:
        """The same WECHAT_* variables the Django settings read, so both sides agree on keys."""
        return cls(
            appid=os.environ.get("WECHAT_APPID", DEFAULT_APPID),
            secret=os.environ.get("WECHAT_SECRET", DEFAULT_SECRET),
            mch_id=os.environ.get("WECHAT_MCH_ID", DEFAULT_MCH_ID),
            api_key=os.environ.get("WECHAT_API_KEY", DEFAULT_API_KEY),
            speed=float(os.environ.get("WECHAT_SIM_SPEED", DEFAULT_SPEED)),
        )
