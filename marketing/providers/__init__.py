"""Discount providers of the pricing function (see mall/discounts.py), one module per area."""
