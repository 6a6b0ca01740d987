"""The discount providers price_cart applies, in this order (pricing.md); the contract is
mall.discounts.DiscountProvider. Tests replace the tuple with monkeypatch."""

from mall.discounts import DiscountProvider
from marketing.providers.campaigns import LimitedTimeProvider, PromotionProvider
from marketing.providers.flash_sale import FlashSaleProvider
from marketing.providers.group_buy import GroupBuyProvider
from marketing.providers.points_mall import PointsMallProvider
from members.providers import LevelDiscountProvider

DISCOUNT_PROVIDERS: tuple[DiscountProvider, ...] = (
    FlashSaleProvider(),
    GroupBuyProvider(),
    PointsMallProvider(),
    LimitedTimeProvider(),  # 限时折扣
    LevelDiscountProvider(),
    PromotionProvider(),  # 满减/满折, N元N件, 买赠, coupons
)
