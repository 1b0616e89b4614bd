import threading
import time

import pytest

from ielmscan.inference.prefetch import WaitTime, prefetched


def test_items_come_in_order_and_all_of_them():
    assert list(prefetched(iter(range(100)), depth=3)) == list(range(100))
    assert list(prefetched([])) == []


def test_producer_runs_in_another_thread_ahead_of_the_consumer():
    produced = []

    def items():
        for i in range(5):
            produced.append((i, threading.current_thread().name))
            yield i

    stream = prefetched(items(), depth=2)
    assert next(stream) == 0
    time.sleep(0.2)
    assert len(produced) >= 3  # item 0 consumed, two more buffered ahead
    assert all(name == "ielmscan-prefetch" for _, name in produced)
    assert list(stream) == [1, 2, 3, 4]


def test_producer_errors_reach_the_consumer_in_place():
    def items():
        yield 1
        raise ValueError("bad chunk")

    stream = prefetched(items())
    assert next(stream) == 1
    with pytest.raises(ValueError, match="bad chunk"):
        next(stream)


def test_stopping_early_stops_the_producer():
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    before = threading.active_count()
    stream = prefetched(endless(), depth=2)
    assert next(stream) == 0
    stream.close()
    assert threading.active_count() == before


def test_wait_time_counts_the_consumer_blocked_on_a_slow_producer():
    def slow():
        for i in range(3):
            time.sleep(0.1)
            yield i

    wait = WaitTime()
    assert list(prefetched(slow(), wait=wait)) == [0, 1, 2]
    assert wait.seconds >= 0.25  # the consumer did nothing else: it waited for each 0.1 s item
    buffered = WaitTime()
    stream = prefetched(iter(range(3)), depth=3, wait=buffered)
    time.sleep(0.2)  # the producer has filled the buffer by now
    assert list(stream) == [0, 1, 2]
    assert buffered.seconds < wait.seconds
