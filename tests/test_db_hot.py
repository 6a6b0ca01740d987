"""mall.db.execute_hot: a hot statement runs prepared once per connection in autocommit, and as
an ordinary statement everywhere else."""

import pytest
from django.db import connection, transaction

from mall.db import execute_hot

SQL = "SELECT %(a)s::int + %(b)s::int, %(a)s::int"
NAME = "mall_test_add"


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name = %s", [NAME])
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_prepared_once_per_connection_and_again_on_a_new_one(settings):
    settings.DB_PREPARED_STATEMENTS = True
    # when / then: each name once, in the order it first appears
    assert execute_hot(NAME, SQL, {"a": 2, "b": 3}) == (5, 2)
    assert _prepared() == [NAME]
    assert execute_hot(NAME, SQL, {"b": 1, "a": 4}) == (5, 4)
    # when: the connection is replaced (CONN_MAX_AGE, a restart of PostgreSQL)
    connection.close()
    assert execute_hot(NAME, SQL, {"a": 1, "b": 1}) == (2, 1)
    assert _prepared() == [NAME]


@pytest.mark.django_db(transaction=True)
def test_in_a_transaction_or_turned_off_an_ordinary_statement(settings):
    settings.DB_PREPARED_STATEMENTS = True
    with transaction.atomic():
        assert execute_hot(NAME, SQL, {"a": 2, "b": 3}) == (5, 2)
    assert _prepared() == []
    settings.DB_PREPARED_STATEMENTS = False  # behind a transaction-pooling pgbouncer
    assert execute_hot(NAME, SQL, {"a": 2, "b": 5}) == (7, 2)
    assert _prepared() == []
