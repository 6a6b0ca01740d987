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
