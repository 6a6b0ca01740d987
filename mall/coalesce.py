"""Publishing a Celery task at most once per interval from this process.

For hot paths whose task sweeps everything due (not one object): a publish costs about as much
as the request's own write, so the requests of one interval share one publish. Callers run it
on commit and delay the task past the interval, so the task sees every commit of the interval;
a beat sweep stays the safety net for a lost one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

_queued_at: dict[Hashable, float] = {}  # per process: key → when its task was last published


def publish_at_most_every(key: Hashable, seconds: float, publish: Callable[[], object]) -> None:
    """Call `publish` unless this process did for `key` less than `seconds` ago. Two threads may
    both publish at the edge of an interval: harmless, the tasks are safe to run twice."""
    now = time.monotonic()
    if now - _queued_at.get(key, float("-inf")) < seconds:
        return
    _queued_at[key] = now
    publish()
