"""Chinese search (see catalog/search.py): a stored tsvector and its GIN index.

`catalog_product.search_vector` is a generated column PostgreSQL computes from `search_text`
on every insert and update, so no Python path (admin, import, bulk_create) can forget it; it is
not a model field (only catalog/sql.py reads it). Storing it, rather than indexing the
expression, lets ts_rank read the vector instead of re-parsing every matching row.

The expression is copied here, not imported: a migration must not change when the code does.
"""

from django.db import migrations

SEARCH_VECTOR_EXPRESSION = (
    "setweight(to_tsvector('simple'::regconfig, split_part(search_text, '|', 1)), 'A')"
    " || setweight(to_tsvector('simple'::regconfig, split_part(search_text, '|', 2)), 'B')"
)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_product_original_price_active_sku_unique"),
    ]

    operations = [
        migrations.RunSQL(
            sql=[
                "ALTER TABLE catalog_product ADD COLUMN IF NOT EXISTS search_vector tsvector "
                f"GENERATED ALWAYS AS ({SEARCH_VECTOR_EXPRESSION}) STORED",
                "CREATE INDEX IF NOT EXISTS product_search_gin ON catalog_product "
                "USING gin (search_vector)",
            ],
            reverse_sql=[
                "DROP INDEX IF EXISTS product_search_gin",
                "ALTER TABLE catalog_product DROP COLUMN IF EXISTS search_vector",
            ],
            elidable=False,
        ),
    ]
