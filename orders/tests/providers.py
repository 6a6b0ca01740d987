"""Test-only discount providers, registered through settings.ORDER_DISCOUNT_PROVIDERS."""

from mall.money import BASIS_POINTS, mul_div_round_half_up
from orders.pricing import Adjustment


class TenPercentOff:
    """九折 on everything left; records what load() saw."""

    key = "test_ten_percent"
    loads: list = []

    def load(self, *, member, lines, now):
        self.loads.append([line.sku_id for line in lines])
        return {"rate_bp": 1000}

    def apply(self, *, lines, loaded, goods_left_fen):
        left = sum(line.goods_left_fen for line in lines)
        amount = mul_div_round_half_up(left, loaded["rate_bp"], BASIS_POINTS)
        return [Adjustment(source="test", name="测试九折", amount_fen=amount)]


class FirstLineOff:
    """3 元 off the first line only (line weights)."""

    key = "test_first_line"

    def load(self, *, member, lines, now):
        return None

    def apply(self, *, lines, loaded, goods_left_fen):
        weights = tuple(1 if i == 0 else 0 for i in range(len(lines)))
        return [
            Adjustment(source="test_first", name="首件立减", amount_fen=300, line_weights=weights)
        ]


class HugeVoucher:
    """Asks for far more than the order is worth: must be capped."""

    key = "test_huge"

    def load(self, *, member, lines, now):
        return None

    def apply(self, *, lines, loaded, goods_left_fen):
        return [Adjustment(source="test_huge", name="超额券", amount_fen=10**9)]


class StockThief:
    """Inside the order's transaction, after the availability check, empties the stock of the
    SKU locked last: the reservation then fails midway (and everything must roll back)."""

    key = "test_stock_thief"

    def load(self, *, member, lines, now):
        from catalog.stock import stock_set

        stock_set(sku_id=max(line.sku_id for line in lines), stock=0, reason="admin_adjust")

    def apply(self, *, lines, loaded, goods_left_fen):
        return []
