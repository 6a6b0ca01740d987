import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """The pickup point's index only over pickup orders (express orders, most of them, no
    longer write an entry). The plain FK index is dropped by name rather than by AlterField,
    which would drop and re-validate the foreign key over the whole table."""

    dependencies = [
        ("members", "0003_birthday"),
        ("orders", "0004_lean_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="order",
                    name="pickup_point",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="orders",
                        to="orders.pickuppoint",
                        verbose_name="自提点",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "orders_order_pickup_point_id_18bb0066"',
                    reverse_sql=(
                        'CREATE INDEX "orders_order_pickup_point_id_18bb0066" '
                        'ON "orders_order" ("pickup_point_id")'
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(
                condition=models.Q(("pickup_point__isnull", False)),
                fields=["pickup_point"],
                name="order_pickup_point",
            ),
        ),
    ]
