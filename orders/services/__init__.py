"""Writes of the orders app (HackSoft services): keyword-only, typed, `<entity>_<verb>`."""

from .addresses import address_create, address_delete, address_update
from .cart import (
    BuyAgainResult,
    cart_item_add,
    cart_item_delete,
    cart_item_update,
    member_lock,
    order_buy_again,
)
from .checkout import checkout_request_hash, order_create, order_no_new
from .lifecycle import (
    ALLOWED_TRANSITIONS,
    TransitionNotAllowed,
    member_actor,
    order_auto_receive,
    order_cancel,
    order_close_if_unpaid,
    order_complete,
    order_delete_by_member,
    order_line_refunded_add,
    order_paid_effects_claim,
    order_receive,
    order_ship,
    order_transition,
    orders_expire_due,
    orders_sweep,
    pickup_redeem,
)
from .shipping import order_shipping_info_upload, shipping_info_payload

__all__ = [
    "ALLOWED_TRANSITIONS",
    "BuyAgainResult",
    "TransitionNotAllowed",
    "address_create",
    "address_delete",
    "address_update",
    "cart_item_add",
    "cart_item_delete",
    "cart_item_update",
    "checkout_request_hash",
    "member_actor",
    "member_lock",
    "order_auto_receive",
    "order_buy_again",
    "order_cancel",
    "order_close_if_unpaid",
    "order_complete",
    "order_create",
    "order_delete_by_member",
    "order_line_refunded_add",
    "order_no_new",
    "order_paid_effects_claim",
    "order_receive",
    "order_ship",
    "order_shipping_info_upload",
    "order_transition",
    "orders_expire_due",
    "orders_sweep",
    "pickup_redeem",
    "shipping_info_payload",
]
