"""One scorer per device: work dealt to whichever is free, results in the order given, scores unchanged."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ielmscan.inference.devices import Precision
from ielmscan.inference.scorer import ScorerSettings
from ielmscan.inference.scorer_pool import ScorerPool
from ielmscan.inference.windows import EncodedChunk, encode_chunk
from ielmscan.kernels.encode import encode_bases

from tests.bundles import random_bundle

WINDOW, STRIDE = 60, 20


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return random_bundle(tmp_path_factory.mktemp("pool") / "b", ks=(3, 4), hidden=16)


def chunk(seed: int) -> EncodedChunk:
    codes = encode_bases(bytes(np.random.default_rng(seed).choice(list(b"ACGT"), size=WINDOW + 19 * STRIDE).tolist()))
    return encode_chunk(codes, [3, 4], True)


def settings(**kwargs) -> ScorerSettings:
    return ScorerSettings(device="cpu", precision=Precision.fp32, **kwargs)


def score(scorer, item):
    return scorer.score_chunk(item, WINDOW, STRIDE, np.arange(20))


def test_two_cpu_scorers_score_every_chunk_as_one_does_in_the_order_given(bundle):
    chunks = [chunk(seed) for seed in range(9)]
    with ScorerPool(bundle, settings(threads=1)) as one, ScorerPool(bundle, settings(threads=2, workers=2)) as two:
        assert (len(one.scorers), len(two.scorers)) == (1, 2)
        alone = [result for _, result in one.map(chunks, score)]
        together = list(two.map(chunks, score))
    assert [item for item, _ in together] == chunks
    for a, (_, b) in zip(alone, together):
        np.testing.assert_array_equal(a, b)


def test_cpu_scorers_share_the_threads(bundle):
    with ScorerPool(bundle, settings(threads=4, workers=2)) as pool:
        assert pool.devices == ["cpu", "cpu"] and pool.kind == "cpu"
        assert [s.workers for s in pool.scorers] == [2, 2] and pool.workers == 4
        assert pool.threads_per_worker == 1 and pool.precision is Precision.fp32


def test_results_keep_their_order_when_later_items_finish_first(bundle):
    busy: set[str] = set()
    lock = threading.Lock()

    def slow_first(scorer, item):
        with lock:
            busy.add(threading.current_thread().name)
        time.sleep(0.3 if item == 0 else 0.01)
        return item * 10

    with ScorerPool(bundle, settings(threads=2, workers=2)) as pool:
        assert [result for _, result in pool.map(range(8), slow_first)] == [i * 10 for i in range(8)]
    assert len(busy) == 2  # both devices took work


def test_an_error_surfaces_at_its_item_and_the_pool_stays_usable(bundle):
    def fail_at_three(scorer, item):
        if item == 3:
            raise ValueError("chunk 3 failed")
        return item

    with ScorerPool(bundle, settings(threads=2, workers=2)) as pool:
        seen = []
        with pytest.raises(ValueError, match="chunk 3"):
            for item, _ in pool.map(range(10), fail_at_three):
                seen.append(item)
        assert seen == [0, 1, 2]
        assert [r for _, r in pool.map(range(4), lambda scorer, item: item)] == [0, 1, 2, 3]


def test_closing_stops_a_chunk_between_batches(bundle):
    encoded = chunk(0)
    pool = ScorerPool(bundle, settings(threads=2, workers=2, batch_size=1))
    started = threading.Event()

    def slow(scorer, item):
        started.set()
        return scorer.score_chunk(encoded, WINDOW, STRIDE, np.arange(20).repeat(200))

    failed: list[BaseException] = []

    def consume() -> None:
        try:
            list(pool.map(range(2), slow))
        except BaseException as exc:  # the chunks being scored stop
            failed.append(exc)

    runner = threading.Thread(target=consume, daemon=True)
    runner.start()
    assert started.wait(30)
    began = time.perf_counter()
    pool.close()
    runner.join(10)
    assert time.perf_counter() - began < 10  # not the minutes 8,000 one-window batches would take
    assert not runner.is_alive() and failed
