"""The merchant's order desk (Chinese), one module per area (Django imports this package).

Every write goes through orders services. The merchant never edits an order's status or amounts:
they are read-only here, and shipping, pickup, cancelling and the merchant note each call their
service (`order_ship`, `pickup_redeem`, `order_cancel`, `order_merchant_note_set`). A domain
error becomes an admin error message, never a 500.
"""

from . import addresses, freight, orders, pickup_points  # noqa: F401
