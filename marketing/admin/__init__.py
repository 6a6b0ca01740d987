"""The marketing admin, one module per area (Django imports this package)."""

from . import campaigns, coupons, flash_sale, group_buy, journeys, points_mall  # noqa: F401
