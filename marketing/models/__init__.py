"""The marketing app's models, one module per area; everything is importable from here."""

from .campaigns import Campaign, CampaignItem, CampaignPurchase, CampaignTier, CampaignUsage  # noqa: F401
from .coupons import Coupon, CouponCode, CouponCodeBatch, CouponSpendRule, CouponTemplate  # noqa: F401
from .flash_sale import FlashItem, FlashPurchase, FlashSession  # noqa: F401
from .group_buy import Group, GroupBuyCampaign, GroupMember  # noqa: F401
from .journeys import JourneySend, ReplenishRule  # noqa: F401
from .points_mall import PointsMallExchange, PointsMallItem  # noqa: F401
