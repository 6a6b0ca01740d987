import factory

from members.models import Member


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    openid = factory.Sequence(lambda n: f"o-member-{n}")
    nickname = factory.Sequence(lambda n: f"会员{n}")
