import factory

from orders.models import Address, FreightRule, FreightTemplate, PickupPoint


class AddressFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Address

    name = "张三"
    phone = "13800138000"
    province = "浙江省"
    city = "杭州市"
    district = "西湖区"
    detail = "文三路 1 号"
    is_default = False


class FreightTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FreightTemplate

    name = factory.Sequence(lambda n: f"运费模板{n}")
    charge_by = FreightTemplate.ChargeBy.PIECE
    free_over_fen = None
    is_default = False


class FreightRuleFactory(factory.django.DjangoModelFactory):
    """Explicit fees in tests: FreightRuleFactory(template=t, first_fee_fen=800, extra_fee_fen=200)."""

    class Meta:
        model = FreightRule

    template = factory.SubFactory(FreightTemplateFactory)
    regions = factory.LazyFunction(list)
    first_units = 1
    first_fee_fen = 1000
    extra_units = 1
    extra_fee_fen = 500


class PickupPointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PickupPoint

    name = factory.Sequence(lambda n: f"自提点{n}")
    province = "浙江省"
    city = "杭州市"
    district = "西湖区"
    address = "龙井路 8 号"
    phone = "0571-87654321"
    hours = "09:00-21:00"
