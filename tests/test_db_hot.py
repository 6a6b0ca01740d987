"""mall.db: a hot statement runs prepared once per connection in autocommit, and as an ordinary
statement everywhere else; plain-SQL inserts and reads agree with the ORM."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from mall.db import execute_hot

SQL = "SELECT %(a)s::int + %(b)s::int, %(a)s::int"
POSITIONAL = "SELECT %s::int * %s::int"


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s ORDER BY 1",
            ["PREPARE hot_%"],
        )
        return [row[0].split(" AS ", 1)[1] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_prepared_once_per_connection_and_again_on_a_new_one(settings):
    settings.DB_PREPARED_STATEMENTS = True
    connection.close()
    # when / then: each statement once, its parameters numbered in first-seen order
    assert execute_hot(SQL, {"a": 2, "b": 3}) == (5, 2)
    assert execute_hot(SQL, {"b": 1, "a": 4}) == (5, 4)
    assert execute_hot(POSITIONAL, [6, 7]) == (42,)
    assert _prepared() == ["SELECT $1::int * $2::int", "SELECT $1::int + $2::int, $1::int"]
    # when: the connection is replaced (CONN_MAX_AGE, a restart of PostgreSQL)
    connection.close()
    assert execute_hot(SQL, {"a": 1, "b": 1}) == (2, 1)
    assert _prepared() == ["SELECT $1::int + $2::int, $1::int"]


@pytest.mark.django_db(transaction=True)
def test_in_a_transaction_prepared_and_not_logged_as_a_query(settings):
    settings.DB_PREPARED_STATEMENTS = True
    connection.close()
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        assert execute_hot(SQL, {"a": 2, "b": 3}) == (5, 2)
    assert [q["sql"] for q in queries if "hot_" in q["sql"]] == [
        queries[1]["sql"]  # BEGIN, EXECUTE, COMMIT: the PREPARE is not a query of its own
    ]
    assert queries[1]["sql"].startswith("EXECUTE hot_")
    # then: it outlives the transaction (PostgreSQL does not roll a PREPARE back)
    assert _prepared() == ["SELECT $1::int + $2::int, $1::int"]
    with transaction.atomic():
        assert execute_hot(SQL, {"a": 1, "b": 3}) == (4, 1)


@pytest.mark.django_db(transaction=True)
def test_a_forgotten_statement_is_prepared_again(settings):
    settings.DB_PREPARED_STATEMENTS = True
    assert execute_hot(SQL, {"a": 2, "b": 3}) == (5, 2)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as a pooler's DISCARD ALL would
    assert execute_hot(SQL, {"a": 2, "b": 2}) == (4, 2)  # autocommit: prepared again
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with pytest.raises(DatabaseError), transaction.atomic():
        execute_hot(SQL, {"a": 1, "b": 1})  # in a transaction: that one fails …
    with transaction.atomic():
        assert execute_hot(SQL, {"a": 1, "b": 1}) == (2, 1)  # … the next prepares again


@pytest.mark.django_db(transaction=True)
def test_a_statement_whose_result_a_migration_changed_is_prepared_again(settings):
    settings.DB_PREPARED_STATEMENTS = True
    sql = "SELECT v FROM hot_migrated WHERE v = %s"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE hot_migrated (v varchar(5))")
        cursor.execute("INSERT INTO hot_migrated VALUES ('a')")
    assert execute_hot(sql, ["a"]) == ("a",)
    # when: a migration changes the returned column (while this process keeps running)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE hot_migrated ALTER COLUMN v TYPE text")
    # then: in autocommit it is prepared again at once
    assert execute_hot(sql, ["a"]) == ("a",)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE hot_migrated ALTER COLUMN v TYPE varchar(9)")
    # in a transaction that run fails, the next one prepares it again
    with pytest.raises(DatabaseError), transaction.atomic():
        execute_hot(sql, ["a"])
    with transaction.atomic():
        assert execute_hot(sql, ["a"]) == ("a",)
    assert execute_hot(sql, ["a"]) == ("a",)


@pytest.mark.django_db(transaction=True)
def test_turned_off_an_ordinary_statement(settings):
    settings.DB_PREPARED_STATEMENTS = False  # behind a transaction-pooling pgbouncer
    connection.close()
    assert execute_hot(SQL, {"a": 2, "b": 5}) == (7, 2)
    assert _prepared() == []


@pytest.mark.django_db
def test_models_from_rows_reads_as_the_orm_reads(place_order_for_db_tests):
    from mall.db import models_from_rows, select_list
    from orders.models import Order

    order = place_order_for_db_tests()
    with connection.cursor() as cursor:
        sql = f"SELECT {select_list(Order, 'o')} FROM orders_order o WHERE o.id = %s"  # noqa: S608
        cursor.execute(sql, [order.pk])
        (fast,) = models_from_rows(Order, cursor.fetchall())
    orm = Order.objects.get(pk=order.pk)
    for field in Order._meta.concrete_fields:  # JSON decoded, datetimes aware, …
        assert getattr(fast, field.attname) == getattr(orm, field.attname), field.name
    assert isinstance(fast.breakdown, dict)
    assert fast.created_at.tzinfo is not None
    assert not fast._state.adding


@pytest.mark.django_db
def test_insert_unless_conflict_skips_a_duplicate_and_keeps_the_transaction(
    place_order_for_db_tests,
):
    from copy import copy

    from mall.db import insert_unless_conflict
    from orders.models import Order

    order = place_order_for_db_tests()
    duplicate = copy(order)
    duplicate.pk, duplicate._state = None, type(order._state)()
    with transaction.atomic():
        assert insert_unless_conflict(duplicate) is False  # same no: skipped
        assert duplicate.pk is None
        duplicate.no, duplicate.client_token = "20261124X", "another-key"
        assert insert_unless_conflict(duplicate) is True  # the transaction is still usable
    assert Order.objects.get(pk=duplicate.pk).breakdown == order.breakdown


@pytest.fixture
def place_order_for_db_tests(db):
    from uuid import uuid4

    from catalog.tests.factories import SkuFactory
    from members.tests.factories import MemberFactory
    from orders.pricing import CheckoutRequest, DeliveryChoice, LineInput
    from orders.services import order_create
    from orders.tests.factories import AddressFactory

    def place():
        member = MemberFactory()
        sku = SkuFactory(price_fen=1000, stock=5)
        order, _ = order_create(
            member=member,
            client_token=uuid4().hex,
            checkout=CheckoutRequest(
                delivery=DeliveryChoice(address_id=AddressFactory(member=member).pk),
                lines=(LineInput(sku_id=sku.pk, quantity=1),),
            ),
            expected_payable_fen=1000,
        )
        return order

    return place
