from django.urls import path

from . import campaigns as campaigns_api
from . import coupons, flash_sale, group_buy
from . import journeys as journeys_api
from . import points_mall as points_mall_api

urlpatterns: list = [
    path("coupons/available", coupons.CouponAvailableListApi.as_view(), name="coupons-available"),
    path("coupons/<int:template_id>/claim", coupons.CouponClaimApi.as_view(), name="coupon-claim"),
    path("coupons/redeem", coupons.CouponRedeemApi.as_view(), name="coupon-redeem"),
    path(
        "coupons/for-checkout", coupons.CouponForCheckoutApi.as_view(), name="coupons-for-checkout"
    ),
    path("me/coupons", coupons.MyCouponListApi.as_view(), name="me-coupons"),
    path("group-buys", group_buy.GroupBuyCampaignListApi.as_view(), name="group-buys"),
    path(
        "group-buys/<int:campaign_id>",
        group_buy.GroupBuyCampaignDetailApi.as_view(),
        name="group-buy-detail",
    ),
    path("groups/<int:group_id>", group_buy.GroupShareApi.as_view(), name="group-share"),
    path("me/groups", group_buy.MyGroupListApi.as_view(), name="me-groups"),
    path("flash/sessions", flash_sale.FlashSessionListApi.as_view(), name="flash-sessions"),
    path(
        "flash/sessions/<int:session_id>/items",
        flash_sale.FlashSessionItemListApi.as_view(),
        name="flash-session-items",
    ),
    path(
        "flash/items/<int:item_id>/admit",
        flash_sale.FlashItemAdmitApi.as_view(),
        name="flash-item-admit",
    ),
    path("campaigns", campaigns_api.CampaignListApi.as_view(), name="campaigns"),
    path(
        "campaigns/<int:campaign_id>",
        campaigns_api.CampaignDetailApi.as_view(),
        name="campaign-detail",
    ),
    path("recommendations", journeys_api.RecommendationListApi.as_view(), name="recommendations"),
    path("points-mall/items", points_mall_api.PointsMallItemListApi.as_view(), name="points-mall"),
    path(
        "points-mall/items/<int:item_id>/exchange",
        points_mall_api.PointsMallCouponExchangeApi.as_view(),
        name="points-mall-exchange",
    ),
]
