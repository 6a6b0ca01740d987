"""Connections PostgreSQL closed are dropped before a request uses them (mall.db_health), in
place of Django's `SELECT 1` per request (CONN_HEALTH_CHECKS)."""

import select
import time
from typing import Any

import pytest
from celery.signals import task_prerun
from django.core.signals import request_started
from django.db import connection, connections
from django.test import Client

from mall.db_health import connections_drop_closed_by_server

pytestmark = pytest.mark.django_db(transaction=True)  # requests outside a test transaction


def _terminate_backend_of_default() -> Any:
    """Have the server end the default connection's session, as a restart would; its raw
    connection, once the goodbye has arrived."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    raw = connection.connection
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    poller = select.poll()
    poller.register(raw.fileno(), select.POLLIN)
    deadline = time.monotonic() + 5
    while not poller.poll(50) and time.monotonic() < deadline:
        pass
    return raw


def test_the_first_request_after_the_server_closed_the_connection_succeeds() -> None:
    client = Client(raise_request_exception=False)
    assert client.get("/api/v1/categories").status_code == 200
    _terminate_backend_of_default()

    response = client.get("/api/v1/categories")

    assert response.status_code == 200, response.content


def test_a_closed_connection_is_dropped_and_a_live_one_kept() -> None:
    connection.ensure_connection()
    live = connection.connection
    connections_drop_closed_by_server()
    assert connection.connection is live

    _terminate_backend_of_default()
    connections_drop_closed_by_server()
    assert connection.connection is None
    with connection.cursor() as cursor:  # a new connection
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_it_runs_when_a_request_or_a_task_starts() -> None:
    # Both signal classes key a function receiver by (id(function), id(sender)).
    for signal in (request_started, task_prerun):
        keys = [key for key, *_rest in signal.receivers]
        assert any(key[0] == id(connections_drop_closed_by_server) for key in keys), signal
