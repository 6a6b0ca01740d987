"""Every error code the API can answer, in one place.

The mini-program switches on `code`: codes are stable snake_case and never renamed or reused.
`message` is Chinese text a shopper can read; `detail` carries data. Services raise these;
`mall.exception_handler` turns them into `{"code", "message", "detail"}`. The README's table of
codes is checked against this module by a test.
"""

from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    default_message: ClassVar[str] = "操作失败"

    def __init__(self, message: str | None = None, **detail: Any) -> None:
        self.message = message or self.default_message
        self.detail = detail
        super().__init__(self.message)


# Codes produced by the exception handler from DRF/Django exceptions (no class of ours).
FRAMEWORK_CODES: dict[str, tuple[int, str]] = {
    "invalid": (400, "请求参数有误"),
    "parse_error": (400, "请求体不是合法的 JSON"),
    "not_authenticated": (401, "请先登录"),
    "authentication_failed": (401, "登录已失效，请重新登录"),
    "permission_denied": (403, "没有权限"),
    "not_found": (404, "资源不存在"),
    "method_not_allowed": (405, "不支持的请求方法"),
    "unsupported_media_type": (415, "不支持的内容类型"),
    "throttled": (429, "请求过于频繁"),
    "server_error": (500, "服务器开小差了，请稍后再试"),
}


# --- WeChat ---
class WechatUnavailable(DomainError):
    """WeChat (or the simulator) could not be reached or answered an error we cannot act on."""

    code = "wechat_unavailable"
    status = 502
    default_message = "微信服务暂不可用，请稍后再试"


class WechatApiError(WechatUnavailable):
    """WeChat answered an errcode; services map the ones they understand to their own errors."""

    def __init__(self, errcode: int | None, errmsg: str) -> None:
        super().__init__(errcode=errcode, errmsg=errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


# --- members ---
class WechatLoginFailed(DomainError):
    code = "wechat_login_failed"
    default_message = "微信登录失败，请重试"


class PhoneCodeInvalid(DomainError):
    code = "phone_code_invalid"
    default_message = "手机号授权已失效，请重新授权"


class BirthdayLocked(DomainError):
    code = "birthday_locked"
    status = 409
    default_message = "生日设置后不可修改"


class ProfileInvalid(DomainError):
    code = "profile_invalid"
    status = 400
    default_message = "资料填写有误"


class AlreadySignedIn(DomainError):
    code = "already_signed_in"
    status = 409
    default_message = "今天已经签到过了"


class SignInMakeupUnavailable(DomainError):
    """A make-up sign-in (补签) when the rule does not allow it, or for a date out of range."""

    code = "signin_makeup_unavailable"
    status = 409
    default_message = "该日期不能补签"


class PointsAdjustInvalid(DomainError):
    code = "points_adjust_invalid"
    status = 400
    default_message = "积分调整无效（数量不能为 0，须填写原因，扣减不能超过可用积分）"


class TagNotManual(DomainError):
    """Automatic tags (new, active, dormant, high value) are computed, not assigned by hand."""

    code = "tag_not_manual"
    status = 409
    default_message = "自动标签由系统计算，不能手动添加或移除"


# --- catalog ---
class OutOfStock(DomainError):
    code = "out_of_stock"
    status = 409
    default_message = "库存不足"


class ProductUnavailable(DomainError):
    code = "product_unavailable"
    status = 409
    default_message = "商品已下架或不存在"


class InvalidImage(DomainError):
    code = "invalid_image"
    default_message = "图片无效：请上传 JPEG/PNG/WebP 图片，且不超过 10MB"


class SpecInvalid(DomainError):
    """A SKU's specs are not an object of dimension name → value, both non-empty strings."""

    code = "spec_invalid"
    default_message = '规格格式错误：应为 {"颜色": "红", "尺码": "M"}，名称和值不能为空或含 : |'


class SpecInconsistent(DomainError):
    """The active SKUs of one product do not all have the same spec dimensions."""

    code = "spec_inconsistent"
    default_message = "同一商品的所有启用 SKU 必须有相同的规格项"


class SpecDuplicate(DomainError):
    """Two active SKUs of one product have the same spec values."""

    code = "spec_duplicate"
    status = 409
    default_message = "同一商品中有两个启用 SKU 的规格完全相同"


class CategoryTooDeep(DomainError):
    code = "category_too_deep"
    default_message = "分类最多三级"


class CategoryParentInvalid(DomainError):
    code = "category_parent_invalid"
    default_message = "上级分类不能是自己或自己的下级"


class PriceAdjustInvalid(DomainError):
    code = "price_adjust_invalid"
    default_message = "调价幅度无效：须大于 -100% 且不超过 +1000%"


# --- marketing ---
# coupons
class CouponNotFound(DomainError):
    code = "coupon_not_found"
    status = 404
    default_message = "优惠券不存在"


class CouponExpired(DomainError):
    code = "coupon_expired"
    status = 409
    default_message = "优惠券已过期"


class CouponNotStarted(DomainError):
    code = "coupon_not_started"
    status = 409
    default_message = "优惠券尚未到使用时间"


class CouponSoldOut(DomainError):
    code = "coupon_sold_out"
    status = 409
    default_message = "优惠券已领完"


class CouponLimitReached(DomainError):
    code = "coupon_limit_reached"
    status = 409
    default_message = "已达到每人限领数量"


class CouponCodeInvalid(DomainError):
    code = "coupon_code_invalid"
    default_message = "兑换码无效"


class CouponCodeUsed(DomainError):
    code = "coupon_code_used"
    status = 409
    default_message = "兑换码已被使用"


class CouponNotApplicable(DomainError):
    code = "coupon_not_applicable"
    status = 409
    default_message = "该优惠券不适用于本单商品"


class GroupUnavailable(DomainError):
    code = "group_unavailable"
    status = 409
    default_message = "该团已结束或不存在"


class GroupFull(DomainError):
    code = "group_full"
    status = 409
    default_message = "该团已满员，请开新团或参加其他团"


class GroupAlreadyJoined(DomainError):
    code = "group_already_joined"
    status = 409
    default_message = "你已在该团中，不能重复参团"


class FlashNotStarted(DomainError):
    code = "flash_not_started"
    default_message = "秒杀尚未开始"


class FlashEnded(DomainError):
    code = "flash_ended"
    default_message = "秒杀已结束"


class FlashSoldOut(DomainError):
    code = "flash_sold_out"
    status = 409
    default_message = "已抢光"


class FlashLimitReached(DomainError):
    code = "flash_limit_reached"
    status = 409
    default_message = "已达每人限购数量"


class FlashNotAdmitted(DomainError):
    """Ordering a flash item needs a live admission (POST flash/items/{id}/admit) of this member."""

    code = "flash_not_admitted"
    status = 409
    default_message = "抢购资格已失效，请重新抢购"


class PointsMallItemUnavailable(DomainError):
    code = "points_mall_item_unavailable"
    status = 409
    default_message = "该积分商品已下架或不存在"


class PointsMallSoldOut(DomainError):
    code = "points_mall_sold_out"
    status = 409
    default_message = "该积分商品已兑完"


class PointsMallLimitReached(DomainError):
    code = "points_mall_limit_reached"
    status = 409
    default_message = "已达到每人兑换上限"


class CampaignInvalid(DomainError):
    """A campaign's settings do not add up (window, tiers, items, bundle or gift numbers)."""

    code = "campaign_invalid"
    default_message = "活动设置有误"


class CampaignPurchaseLimitReached(DomainError):
    """More units at a 限时折扣 price than the member's 限购 leaves (the conditional UPDATE lost)."""

    code = "campaign_purchase_limit_reached"
    status = 409
    default_message = "超出活动限购数量"


# --- orders ---
class CartEmpty(DomainError):
    code = "cart_empty"
    default_message = "购物车里没有选中的商品"


class CartFull(DomainError):
    code = "cart_full"
    status = 409
    default_message = "购物车已满，请先结算或删除部分商品"


class AddressLimitReached(DomainError):
    code = "address_limit_reached"
    status = 409
    default_message = "收货地址最多保存 20 个"


class DeliveryUnavailable(DomainError):
    code = "delivery_unavailable"
    status = 409
    default_message = "该地址或自提点暂不支持配送"


class CouponUnavailable(DomainError):
    code = "coupon_unavailable"
    status = 409
    default_message = "优惠券不可用"


class PointsUnavailable(DomainError):
    code = "points_unavailable"
    status = 409
    default_message = "积分不可用于本单"


class PointsInsufficient(DomainError):
    """A points spend larger than the member's spendable points (the conditional UPDATE matched no row)."""

    code = "points_insufficient"
    status = 409
    default_message = "积分不足"


class BalanceUnavailable(DomainError):
    code = "balance_unavailable"
    status = 409
    default_message = "余额不可用于本单"


class BalanceInsufficient(DomainError):
    """A stored-value debit larger than the member's balance (the conditional UPDATE matched no row)."""

    code = "balance_insufficient"
    status = 409
    default_message = "余额不足"


class TopUpAmountInvalid(DomainError):
    """A stored-value top-up amount outside 1 fen … TOP_UP_MAX_FEN."""

    code = "top_up_amount_invalid"
    status = 400
    default_message = "充值金额无效"


class PromotionUnavailable(DomainError):
    code = "promotion_unavailable"
    status = 409
    default_message = "活动已结束或不存在"


class PriceChanged(DomainError):
    code = "price_changed"
    status = 409
    default_message = "价格有变化，请确认后重新提交"


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422
    default_message = "同一请求键已用于另一笔订单"


class OrderStatusInvalid(DomainError):
    code = "order_status_invalid"
    status = 409
    default_message = "订单状态已变化，无法进行此操作"


class PickupCodeInvalid(DomainError):
    code = "pickup_code_invalid"
    default_message = "自提码无效"


# --- payments ---
class OrderAlreadyPaid(DomainError):
    code = "order_already_paid"
    status = 409
    default_message = "订单已支付"


class OrderNotPayable(DomainError):
    """Cancelled, closed, or past its payment deadline."""

    code = "order_not_payable"
    status = 409
    default_message = "订单已取消或已超时，无法支付"


class RefundNotAllowed(DomainError):
    code = "refund_not_allowed"
    status = 409
    default_message = "该订单当前不能退款"


class RefundExceedsPaid(DomainError):
    """More units or fen than were paid minus what is refunded or being refunded."""

    code = "refund_exceeds_paid"
    status = 409
    default_message = "退款数量或金额超过可退部分"


class RefundNumberReused(DomainError):
    code = "refund_number_reused"
    status = 422
    default_message = "退款单号已用于另一笔订单"


class TopUpNotRefundable(DomainError):
    """Only a top-up that reached the balance (paid) can be refunded."""

    code = "top_up_not_refundable"
    status = 409
    default_message = "该充值当前不能退款"


class TopUpBalanceSpent(DomainError):
    """The balance no longer holds the top-up's amount + bonus: part of it was spent. Refused
    (no partial refund), as shops do: the shopper's balance is never refunded below its bonus."""

    code = "top_up_balance_spent"
    status = 409
    default_message = "充值金额已部分使用，不能退款"


class RefundNotRetryable(DomainError):
    """Only a refund WeChat reported as CHANGE (退款异常) can be re-submitted."""

    code = "refund_not_retryable"
    status = 409
    default_message = "该退款不是退款异常状态，不能重新提交"


def all_domain_errors() -> list[type[DomainError]]:
    """Every concrete error class, for the README check and the OpenAPI descriptions."""
    found: list[type[DomainError]] = []
    stack = list(DomainError.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.code not in {c.code for c in found}:
            found.append(cls)
    return sorted(found, key=lambda c: c.code)
