"""The members app's models, one module per area; everything is importable from here."""

from .member import Member, MemberToken, SubscribeMessage

__all__ = ["Member", "MemberToken", "SubscribeMessage"]
