"""Reads of the members app for other apps' batch jobs."""

from .models import Member


def member_id_max() -> int:
    """The highest member id (0 without members): batch jobs walk member-id ranges up to it."""
    return Member.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def member_count() -> int:
    return Member.objects.count()
