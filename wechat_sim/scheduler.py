"""One daemon thread running jobs from a heap at their due time, on the simulator's clock.

Notification attempts, their retries and refund completions are all jobs here: no thread per
retry. Due times are read from `clock` (SimState.now, which /_sim/advance-clock moves), so a test
can fire a retry by advancing the clock instead of sleeping; `wake()` makes the thread re-check.

`cancel_all()` (on /_sim/reset) and `stop()` bump `generation`: a job scheduled for an older
generation is refused, so a delivery that was in flight during a reset cannot queue its retry.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

logger = logging.getLogger("wechat_sim")

MAX_WAIT_SECONDS = 0.5  # re-read the clock at least this often (it may jump)
STOP_JOIN_SECONDS = 10.0  # an in-flight delivery has its own HTTP timeout below this


@dataclass(frozen=True)
class ScheduledJob:
    run: Callable[[], None]
    labels: Mapping[str, str] = field(default_factory=dict)


class DeliveryScheduler:
    def __init__(self, clock: Callable[[], float], name: str = "wechat-sim-scheduler") -> None:
        self._clock = clock
        self._name = name
        self._heap: list[tuple[float, int, ScheduledJob]] = []
        self._counter = itertools.count()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._running: ScheduledJob | None = None  # taken off the heap, not finished yet
        self._is_stopped = False
        self._generation = 0

    @property
    def generation(self) -> int:
        with self._condition:
            return self._generation

    def schedule(
        self,
        due_at: float,
        run: Callable[[], None],
        *,
        generation: int,
        labels: Mapping[str, str] | None = None,
    ) -> bool:
        """Queue `run` for `due_at`; False (and nothing queued) if stopped or generation is stale."""
        with self._condition:
            if self._is_stopped or generation != self._generation:
                return False
            job = ScheduledJob(run=run, labels=dict(labels or {}))
            heapq.heappush(self._heap, (due_at, next(self._counter), job))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._condition.notify()
            return True

    def pending_count(self, **labels: str) -> int:
        """Jobs queued or running whose labels include all of `labels` (a delivery in flight
        has not recorded what it got yet: it still counts)."""
        with self._condition:
            jobs = [job for _, _, job in self._heap]
            if self._running is not None:
                jobs.append(self._running)
            return sum(
                all(job.labels.get(key) == value for key, value in labels.items()) for job in jobs
            )

    def wake(self) -> None:
        with self._condition:
            self._condition.notify()

    def cancel_all(self) -> None:
        with self._condition:
            self._heap.clear()
            self._generation += 1
            self._condition.notify()

    def stop(self) -> None:
        with self._condition:
            self._is_stopped = True
            self._heap.clear()
            self._generation += 1
            self._condition.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_JOIN_SECONDS)

    def _next_due_job(self) -> ScheduledJob | None:
        """Block until a job is due; None once stopped."""
        with self._condition:
            while not self._is_stopped:
                now = self._clock()
                if self._heap and self._heap[0][0] <= now:
                    self._running = heapq.heappop(self._heap)[2]
                    return self._running
                wait = min(self._heap[0][0] - now, MAX_WAIT_SECONDS) if self._heap else None
                self._condition.wait(timeout=wait)
            return None

    def _run(self) -> None:
        while (job := self._next_due_job()) is not None:
            try:
                job.run()
            except Exception:
                # One broken job must not end every later delivery.
                logger.exception("scheduled job failed: %s", dict(job.labels))
            finally:
                with self._condition:
                    self._running = None
