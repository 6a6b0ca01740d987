"""Demo data of marketing for `make run` (seed_demo): each area adds its own seeder here."""

from __future__ import annotations

import importlib
from typing import Any

# Modules with a `seed_demo(stdout)`, run in this order.
AREA_SEEDERS: list[str] = [
    "marketing.demo_coupons",
    "marketing.demo_flash_sale",
    "marketing.demo_group_buy",
    "marketing.demo_journeys",
    "marketing.demo_campaigns",
]


def seed_demo(stdout: Any) -> None:
    for path in AREA_SEEDERS:
        importlib.import_module(path).seed_demo(stdout)
