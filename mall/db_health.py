"""Persistent database connections the server has closed are dropped before they are used.

Django's CONN_HEALTH_CHECKS sends `SELECT 1` before the first query of every request: a round
trip per request to catch the rare connection that PostgreSQL closed (a restart, an
administrator's termination, an idle timeout). An idle connection never has anything to read
(we use no LISTEN), so a readable socket means the server said goodbye or hung up: checking
that is one non-blocking poll. Run when a request or a Celery task starts, it keeps what the
health check gave (the first request after a database restart does not fail) for far less.
"""

import select
from typing import Any

from django.db import connections


def _closed_by_server(raw: Any) -> bool:
    if not hasattr(raw, "fileno"):  # a driver connection without a socket of its own
        return False
    if raw.closed:
        return True
    poller = select.poll()
    poller.register(raw.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def connections_drop_closed_by_server(**kwargs: Any) -> None:
    """Close each idle connection of this thread whose server side has gone (signal receiver:
    request_started, task_prerun); the next query opens a fresh one."""
    for connection in connections.all(initialized_only=True):
        raw = connection.connection
        if raw is not None and not connection.in_atomic_block and _closed_by_server(raw):
            connection.close()
