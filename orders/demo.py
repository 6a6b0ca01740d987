"""Demo delivery data of `manage.py seed_demo`: a default freight template and pickup points.
Safe to run again: existing ones (by name) are left as the merchant edited them."""

from decimal import Decimal
from typing import Any

from django.db import transaction

from .models import FreightRule, FreightTemplate, PickupPoint

DEFAULT_TEMPLATE = "默认运费（满 99 包邮）"
REMOTE_PROVINCES = ["新疆维吾尔自治区", "西藏自治区", "青海省", "内蒙古自治区"]
PICKUP_POINTS = [
    ("西湖文化广场自提点", "下城区", "中山北路 1 号", Decimal("30.278200"), Decimal("120.165300")),
    (
        "滨江星光大道自提点",
        "滨江区",
        "江南大道 228 号",
        Decimal("30.207500"),
        Decimal("120.211200"),
    ),
]


@transaction.atomic
def seed_demo(stdout: Any) -> None:
    template, created = FreightTemplate.objects.get_or_create(
        name=DEFAULT_TEMPLATE,
        defaults={
            "charge_by": FreightTemplate.ChargeBy.PIECE,
            "free_over_fen": 9900,
            "is_default": not FreightTemplate.objects.filter(is_default=True).exists(),
        },
    )
    if created:
        FreightRule.objects.create(
            template=template, regions=REMOTE_PROVINCES, first_fee_fen=2000, extra_fee_fen=1000
        )
        FreightRule.objects.create(template=template, first_fee_fen=800, extra_fee_fen=200)
    for name, district, address, latitude, longitude in PICKUP_POINTS:
        PickupPoint.objects.get_or_create(
            name=name,
            defaults={
                "province": "浙江省",
                "city": "杭州市",
                "district": district,
                "address": address,
                "phone": "0571-88888888",
                "hours": "09:00-21:00",
                "latitude": latitude,
                "longitude": longitude,
            },
        )
    stdout.write(f"运费模板: {template.name}；自提点 {PickupPoint.objects.count()} 个")
