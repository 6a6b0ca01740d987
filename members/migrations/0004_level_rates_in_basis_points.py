"""Member level rates in basis points (10000 = 100 %), as the rest of the project: the level
discount and the points multiplier, their values × 10."""

from django.db import migrations, models
from django.db.models import F


def permille_to_bp(apps, schema_editor):
    MemberLevel = apps.get_model("members", "MemberLevel")
    MemberLevel.objects.update(
        discount_bp=F("discount_bp") * 10, points_multiplier_bp=F("points_multiplier_bp") * 10
    )


def bp_to_permille(apps, schema_editor):
    MemberLevel = apps.get_model("members", "MemberLevel")
    MemberLevel.objects.update(
        discount_bp=F("discount_bp") / 10, points_multiplier_bp=F("points_multiplier_bp") / 10
    )


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0003_birthday"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="memberlevel",
            name="member_level_discount_permille_range",
        ),
        migrations.RenameField(
            model_name="memberlevel",
            old_name="discount_permille",
            new_name="discount_bp",
        ),
        migrations.RenameField(
            model_name="memberlevel",
            old_name="points_multiplier_permille",
            new_name="points_multiplier_bp",
        ),
        migrations.RunPython(permille_to_bp, bp_to_permille),
        migrations.AlterField(
            model_name="memberlevel",
            name="discount_bp",
            field=models.PositiveSmallIntegerField(default=10000, verbose_name="商品折扣(万分比)"),
        ),
        migrations.AlterField(
            model_name="memberlevel",
            name="points_multiplier_bp",
            field=models.PositiveIntegerField(default=10000, verbose_name="积分倍率(万分比)"),
        ),
        migrations.AddConstraint(
            model_name="memberlevel",
            constraint=models.CheckConstraint(
                condition=models.Q(("discount_bp__gte", 1), ("discount_bp__lte", 10000)),
                name="member_level_discount_bp_range",
            ),
        ),
    ]
