"""The simulator's scheduler counts a delivery in flight as pending until it has run: a test that
waits for `pending == 0` then sees every attempt recorded."""

import threading
import time

from wechat_sim.scheduler import DeliveryScheduler


def test_a_running_job_counts_as_pending_until_it_is_done():
    scheduler = DeliveryScheduler(clock=time.monotonic)
    started, release, done = threading.Event(), threading.Event(), threading.Event()

    def slow_delivery():
        started.set()
        release.wait(5)
        done.set()

    try:
        scheduler.schedule(time.monotonic(), slow_delivery, generation=0, labels={"no": "A"})
        assert started.wait(5)
        # when: it is off the queue but still running
        assert scheduler.pending_count(no="A") == 1
        assert scheduler.pending_count(no="B") == 0
        release.set()
        assert done.wait(5)
        deadline = time.monotonic() + 5
        while scheduler.pending_count(no="A") and time.monotonic() < deadline:
            time.sleep(0.01)
        # then
        assert scheduler.pending_count(no="A") == 0
    finally:
        release.set()
        scheduler.stop()
