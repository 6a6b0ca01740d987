"""A coupon template's rate in basis points (10000 = 100%), as every other rate: rate_permille
becomes rate_bp, its values ×10 (850 ‰ = 8500 bp: the same 85折, the same amounts)."""

import django.core.validators
from django.db import migrations, models
from django.db.models import F


def permille_to_bp(apps, schema_editor):
    apps.get_model("marketing", "CouponTemplate").objects.update(rate_bp=F("rate_bp") * 10)


def bp_to_permille(apps, schema_editor):
    # Rounded half up: a rate set in bp finer than 10 cannot go back exactly.
    apps.get_model("marketing", "CouponTemplate").objects.update(rate_bp=(F("rate_bp") + 5) / 10)


class Migration(migrations.Migration):
    dependencies = [
        ("marketing", "0004_coupon_revoked"),
    ]

    operations = [
        migrations.RenameField(
            model_name="coupontemplate", old_name="rate_permille", new_name="rate_bp"
        ),
        migrations.RunPython(permille_to_bp, bp_to_permille),
        migrations.AlterField(
            model_name="coupontemplate",
            name="rate_bp",
            field=models.PositiveIntegerField(
                default=10000,
                help_text="折扣券：支付比例，85折 = 8500",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(10000),
                ],
                verbose_name="折扣率(万分比)",
            ),
        ),
    ]
