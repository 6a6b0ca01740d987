"""Test-only discount providers, put in place of orders' with `use_providers`."""

from typing import Any

import pytest

from mall.money import BASIS_POINTS, mul_div_round_half_up
from orders import discount_providers
from orders.pricing import Adjustment


def use_providers(monkeypatch: pytest.MonkeyPatch, *providers: Any) -> None:
    """Price with these providers, in this order, for the test (instead of DISCOUNT_PROVIDERS)."""
    monkeypatch.setattr(discount_providers, "DISCOUNT_PROVIDERS", providers)


class TenPercentOff:
    """九折 on everything left; records what load() saw."""

    key = "test_ten_percent"
    loads: list = []

    def load(self, *, member, lines, now, choices):
        self.loads.append([line.sku_id for line in lines])
        return {"rate_bp": 1000}

    def apply(self, *, lines, loaded, goods_left_fen):
        left = sum(line.goods_left_fen for line in lines)
        amount = mul_div_round_half_up(left, loaded["rate_bp"], BASIS_POINTS)
        return [Adjustment(source="test", name="测试九折", amount_fen=amount)]


class FirstLineOff:
    """3 元 off the first line only (line weights)."""

    key = "test_first_line"

    def load(self, *, member, lines, now, choices):
        return None

    def apply(self, *, lines, loaded, goods_left_fen):
        weights = tuple(1 if i == 0 else 0 for i in range(len(lines)))
        return [
            Adjustment(source="test_first", name="首件立减", amount_fen=300, line_weights=weights)
        ]


class HugeVoucher:
    """Asks for far more than the order is worth: must be capped."""

    key = "test_huge"

    def load(self, *, member, lines, now, choices):
        return None

    def apply(self, *, lines, loaded, goods_left_fen):
        return [Adjustment(source="test_huge", name="超额券", amount_fen=10**9)]


class StockThief:
    """Inside the order's transaction, after the availability check, empties the stock of the
    SKU locked last: the reservation then fails midway (and everything must roll back)."""

    key = "test_stock_thief"

    def load(self, *, member, lines, now, choices):
        from catalog.stock import stock_set

        stock_set(sku_id=max(line.sku_id for line in lines), stock=0, reason="admin_adjust")

    def apply(self, *, lines, loaded, goods_left_fen):
        return []


class PoolPrice:
    """A promotion with its own stock pool and a 5-minute payment timeout (like a flash sale):
    1 yuan off the chosen SKU, whose units it holds itself; commit() records the order it saw."""

    key = "test_pool"
    promotion_kinds = frozenset({"test_pool"})
    commits: list = []

    def load(self, *, member, lines, now, choices):
        if choices.promotion_kind != "test_pool":
            return None
        return {"sku_id": choices.promotion_id}

    def apply(self, *, lines, loaded, goods_left_fen):
        if loaded is None:
            return []
        amounts = tuple(100 * x.quantity if x.sku_id == loaded["sku_id"] else 0 for x in lines)
        return [
            Adjustment(
                source="flash_sale",
                name="池价",
                amount_fen=sum(amounts),
                line_amounts=amounts,
                ref=f"pool:{loaded['sku_id']}",
            )
        ]

    def stock_held_skus(self, *, loaded):
        return frozenset({loaded["sku_id"]}) if loaded else frozenset()

    def payment_timeout_s(self, *, loaded):
        return 300 if loaded else None

    def commit(self, *, member, order, quote, loaded, now):
        if loaded is not None:
            self.commits.append((order.no, [d.ref for d in quote.discounts]))


class CouponJudge:
    """Judges coupons: only coupon 7 exists (2 yuan off, or the best one when none is chosen)."""

    key = "test_coupons"
    handles_coupons = True

    def load(self, *, member, lines, now, choices):
        if choices.coupon_id not in (None, 0, 7):
            from mall.errors import CouponUnavailable

            raise CouponUnavailable(coupon_id=choices.coupon_id)
        return choices

    def apply(self, *, lines, loaded, goods_left_fen):
        if loaded.coupon_id == 0:
            return []
        return [
            Adjustment(
                source="coupon",
                name="2元券",
                amount_fen=200,
                ref="coupon:7",
                auto=loaded.coupon_auto,
            )
        ]
