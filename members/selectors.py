from .models import Member


def member_get(*, member_id: int) -> Member:
    return Member.objects.get(pk=member_id)
