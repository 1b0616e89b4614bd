import threading
import time

import numpy as np
import pytest
import torch

from ielmscan.inference.devices import Precision
from ielmscan.errors import InputError
from ielmscan.inference.scorer import (CPU_BATCH, GPU_BATCH, MAX_DEFAULT_WORKERS, EnsembleScorer, ScorerSettings,
                                cpu_workers, default_batch_size, score_sequences)
from ielmscan.inference.windows import EncodedChunk, encode_chunk
from ielmscan.kernels.encode import encode_bases, reverse_complement
from ielmscan.model.tokens import CLS_ID, SEP_ID, kmers_to_ids, seq_to_kmers

from tests.bundles import random_bundle

WINDOW, STRIDE = 60, 20


def naive_probability(bundle, seq: str, rc: bool) -> float:
    """The DNABERT-style path: k-mer strings, vocabulary lookup, one window at a time."""
    total = 0.0
    for member, weight in zip(bundle.members, bundle.normalised_weights()):
        k = member.config.k

        def prob(s: str) -> float:
            if member.config.tokenizer == "bpe":  # the tokenizers library's own string path
                ids = member.tokenizer.tokenizer.encode(s).ids
            else:
                ids = [CLS_ID] + kmers_to_ids(seq_to_kmers(s, k), k) + [SEP_ID]
            with torch.no_grad():
                return torch.sigmoid(member.model(torch.tensor([ids]))).item()

        strands = [prob(seq), prob(reverse_complement(seq.encode()).decode())] if rc else [prob(seq)]
        total += weight * float(np.mean(strands))
    return total


def encoded(seq: bytes, bundle, rc: bool = True) -> EncodedChunk:
    return encode_chunk(encode_bases(seq), bundle.ks, rc)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return random_bundle(tmp_path_factory.mktemp("b") / "b", ks=(3, 4))


@pytest.fixture(scope="module")
def sequence():
    rng = np.random.default_rng(7)
    seq = bytearray(rng.choice(list(b"ACGTacgt"), size=WINDOW + 9 * STRIDE).tolist())
    seq[70:73] = b"NNR"  # ambiguity codes become [UNK] tokens
    return bytes(seq)


@pytest.mark.parametrize("rc", [True, False])
def test_scores_equal_the_string_kmer_reference(bundle, sequence, rc):
    chunk = encoded(sequence, bundle, rc)
    scorer = EnsembleScorer(bundle, ScorerSettings(device="cpu", precision=Precision.fp32, reverse_complement=rc))
    selected = np.arange(10)
    got = scorer.score_chunk(chunk, WINDOW, STRIDE, selected)
    text = sequence.decode()
    expected = [naive_probability(bundle, text[j * STRIDE : j * STRIDE + WINDOW], rc) for j in selected]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.ptp(got) > 0.01  # the windows really are told apart


def test_only_selected_windows_are_scored_in_their_order(bundle, sequence):
    chunk = encoded(sequence, bundle)
    scorer = EnsembleScorer(bundle, ScorerSettings(device="cpu", precision=Precision.fp32))
    every = scorer.score_chunk(chunk, WINDOW, STRIDE, np.arange(10))
    some = scorer.score_chunk(chunk, WINDOW, STRIDE, np.array([7, 2, 9]))
    np.testing.assert_allclose(some, every[[7, 2, 9]], atol=1e-6)


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_scores_do_not_depend_on_batch_size(bundle, sequence, batch_size):
    chunk = encoded(sequence, bundle)
    ref = EnsembleScorer(bundle, ScorerSettings(device="cpu", precision=Precision.fp32, batch_size=256))
    other = EnsembleScorer(bundle, ScorerSettings(device="cpu", precision=Precision.fp32, batch_size=batch_size))
    np.testing.assert_allclose(
        other.score_chunk(chunk, WINDOW, STRIDE, np.arange(10)),
        ref.score_chunk(chunk, WINDOW, STRIDE, np.arange(10)),
        atol=1e-6,
    )


def test_bf16_scores_stay_close_to_fp32(bundle, sequence):
    chunk = encoded(sequence, bundle)
    fp32 = EnsembleScorer(bundle, ScorerSettings(device="cpu", precision=Precision.fp32))
    bf16 = EnsembleScorer(bundle, ScorerSettings(device="cpu", precision=Precision.bf16))
    np.testing.assert_allclose(
        bf16.score_chunk(chunk, WINDOW, STRIDE, np.arange(10)),
        fp32.score_chunk(chunk, WINDOW, STRIDE, np.arange(10)),
        atol=0.05,
    )


def test_batch_size_defaults_per_device(bundle):
    assert default_batch_size(torch.device("cuda", 0)) == GPU_BATCH
    assert default_batch_size(torch.device("cpu")) == CPU_BATCH == 64  # the small batch the README documents
    assert EnsembleScorer(bundle, ScorerSettings(device="cpu")).batch_size == CPU_BATCH
    assert EnsembleScorer(bundle, ScorerSettings(device="cpu", batch_size=5)).batch_size == 5
    assert EnsembleScorer(bundle, ScorerSettings(device="cpu", batch_size=8)).batch_size == 8


def test_batch_size_must_be_positive(bundle):
    with pytest.raises(InputError, match="batch size"):
        EnsembleScorer(bundle, ScorerSettings(batch_size=0))


@pytest.mark.slow
def test_compiled_encoders_give_the_same_scores(bundle, sequence):
    chunk = encoded(sequence, bundle)
    eager = EnsembleScorer(bundle, ScorerSettings(device="cpu", precision=Precision.fp32, batch_size=4))
    compiled = EnsembleScorer(bundle, ScorerSettings(device="cpu", precision=Precision.fp32, batch_size=4, compile=True))
    # 10 windows in batches of 4: the last batch is padded to the compiled shape and trimmed again.
    np.testing.assert_allclose(
        compiled.score_chunk(chunk, WINDOW, STRIDE, np.arange(10)),
        eager.score_chunk(chunk, WINDOW, STRIDE, np.arange(10)),
        atol=1e-5,
    )


def test_batch_bucket_is_a_power_of_two_multiple_capped_at_the_full_batch():
    from ielmscan.inference.scorer import batch_bucket

    assert [batch_bucket(r, 512) for r in (1, 16, 17, 33, 100, 300, 512)] == [16, 16, 32, 64, 128, 512, 512]
    assert batch_bucket(20, 24) == 24  # never beyond a full batch
    assert batch_bucket(40, 24) == 40  # nor below the rows given


def test_encoders_see_few_batch_shapes_however_many_windows_a_chunk_keeps(bundle, sequence):
    # oneDNN keeps a primitive per input shape and never frees it: memory grew with every new
    # last-batch size until batches were bucketed.
    chunk = encoded(sequence, bundle)
    scorer = EnsembleScorer(bundle, ScorerSettings(device="cpu", precision=Precision.fp32, batch_size=4))
    shapes = set()
    hook = scorer.models[0].encoder.register_forward_pre_hook(lambda _, args: shapes.add(tuple(args[0].shape)))
    reference = scorer.score_chunk(chunk, WINDOW, STRIDE, np.arange(10))
    for n in range(1, 11):
        got = scorer.score_chunk(chunk, WINDOW, STRIDE, np.arange(n))
        np.testing.assert_allclose(got, reference[:n], atol=1e-6)  # padding rows never leak into scores
    hook.remove()
    assert len(shapes) == 1  # 2..8 rows all padded to the full batch of 4 windows × 2 strands


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_scores_do_not_depend_on_the_thread_count(bundle, sequence, threads):
    chunk = encoded(sequence, bundle)
    # Batches of 2 windows: 10 windows x 2 members are 10 jobs shared out among the workers.
    settings = dict(device="cpu", precision=Precision.fp32, batch_size=2)
    serial = EnsembleScorer(bundle, ScorerSettings(**settings, threads=1))
    scorer = EnsembleScorer(bundle, ScorerSettings(**settings, threads=threads))
    assert scorer.workers == threads
    np.testing.assert_allclose(scorer.score_members(chunk, WINDOW, STRIDE, np.arange(10)),
                               serial.score_members(chunk, WINDOW, STRIDE, np.arange(10)), atol=1e-6)


def test_cpu_scoring_leaves_the_callers_thread_count_alone(bundle, sequence):
    chunk = encoded(sequence, bundle)
    before = torch.get_num_threads()
    EnsembleScorer(bundle, ScorerSettings(device="cpu", threads=1)).score_chunk(chunk, WINDOW, STRIDE, np.arange(10))
    assert torch.get_num_threads() == before


def test_threads_are_shared_out_among_a_bounded_number_of_workers():
    assert cpu_workers(2, explicit=False) == (2, 1)
    assert cpu_workers(4 * MAX_DEFAULT_WORKERS, explicit=False) == (MAX_DEFAULT_WORKERS, 4)
    assert cpu_workers(4 * MAX_DEFAULT_WORKERS, explicit=True) == (4 * MAX_DEFAULT_WORKERS, 1)


def test_thread_count_must_be_positive(bundle):
    with pytest.raises(InputError, match="thread count"):
        EnsembleScorer(bundle, ScorerSettings(device="cpu", threads=0))


def test_a_failing_batch_stops_the_other_workers(bundle, sequence, monkeypatch):
    chunk = encoded(sequence, bundle)
    scorer = EnsembleScorer(bundle, ScorerSettings(device="cpu", batch_size=1, threads=2))
    calls = []

    def broken(member, batch):
        calls.append(member)
        time.sleep(0.2)  # long enough for the caller to see the first error and drop the queue
        raise RuntimeError("out of memory")

    monkeypatch.setattr(scorer, "_forward", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        scorer.score_chunk(chunk, WINDOW, STRIDE, np.arange(10))
    scorer._pool.shutdown(wait=True)  # whatever was still queued would run now
    # 10 windows x 2 members = 20 batches; only those already running when the error came were run.
    assert len(calls) <= 4


def test_score_sequences_equals_the_string_reference_and_is_strand_symmetric(bundle, sequence):
    text = sequence.decode()
    seqs = [text[j * STRIDE : j * STRIDE + WINDOW] for j in range(5)]
    ensemble, members = score_sequences(bundle, seqs)
    np.testing.assert_allclose(ensemble, [naive_probability(bundle, s, True) for s in seqs], atol=1e-5)
    assert list(members) == [m.name for m in bundle.members] and members["k3"].shape == (5,)
    flipped, _ = score_sequences(bundle, [reverse_complement(s.encode()).decode() for s in seqs])
    np.testing.assert_allclose(flipped, ensemble, atol=1e-6)
    with pytest.raises(ValueError, match="one length"):
        score_sequences(bundle, [seqs[0], seqs[0][:-1]])


def test_scorer_is_a_context_manager_that_stops_its_workers(bundle, sequence):
    chunk = encoded(sequence, bundle)
    with EnsembleScorer(bundle, ScorerSettings(device="cpu", threads=2)) as scorer:
        scorer.score_chunk(chunk, WINDOW, STRIDE, np.arange(3))
        workers = [t for t in threading.enumerate() if t.name.startswith("ielmscan-score")]
        assert workers
    for thread in workers:
        thread.join(timeout=5)
    assert not any(t.is_alive() for t in workers)
    scorer.close()  # a second close is harmless


def limit_rows(scorer: EnsembleScorer, most: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make every member's forward raise CUDA's out-of-memory error on more than ``most`` rows; the row
    counts it was given."""
    seen: list[int] = []

    def limited(encoder):
        def forward(rows):
            seen.append(rows.shape[0])
            if rows.shape[0] > most:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return encoder(rows)
        return forward

    monkeypatch.setattr(scorer, "encoders", [limited(e) for e in scorer.encoders])
    return seen


@pytest.mark.parametrize("threads", [1, 2])
def test_out_of_memory_halves_the_batch_keeps_the_scores_and_warns_once(bundle, sequence, threads, monkeypatch,
                                                                        caplog):
    chunk = encoded(sequence, bundle)
    settings = dict(device="cpu", precision=Precision.fp32, batch_size=8, threads=threads)
    expected = EnsembleScorer(bundle, ScorerSettings(**settings)).score_members(chunk, WINDOW, STRIDE,
                                                                               np.arange(10))
    with EnsembleScorer(bundle, ScorerSettings(**settings)) as scorer:
        seen = limit_rows(scorer, 4, monkeypatch)  # 2 windows x 2 strands fit, 4 windows do not
        with caplog.at_level("WARNING", logger="ielmscan.inference.scorer"):
            got = scorer.score_members(chunk, WINDOW, STRIDE, np.arange(10))
            again = scorer.score_members(chunk, WINDOW, STRIDE, np.arange(10))
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(again, expected, atol=1e-6)
    # One worker stops at 2 windows (4 rows); with two, a batch padded to the size another had just left may
    # fail once more.
    assert scorer.batch_size == 2 if threads == 1 else scorer.batch_size in (1, 2)
    warnings = [r for r in caplog.records if "ran out of memory" in r.getMessage()]
    assert len(warnings) == 1 and "8 windows per batch" in warnings[0].getMessage()
    failed = [rows for rows in seen if rows > 4]
    assert failed and len(seen) - len(failed) >= 10  # every window scored after the failures


def test_out_of_memory_on_a_single_window_is_a_clear_error(bundle, sequence, monkeypatch):
    chunk = encoded(sequence, bundle)
    with EnsembleScorer(bundle, ScorerSettings(device="cpu", batch_size=4, threads=1)) as scorer:
        limit_rows(scorer, 0, monkeypatch)
        with pytest.raises(InputError, match="ran out of memory scoring a single window .*--device cpu"):
            scorer.score_chunk(chunk, WINDOW, STRIDE, np.arange(10))


# --- A bundle with a BPE member: its rows are its tokenizer's, padded and masked, through the same path. ---

@pytest.fixture(scope="module")
def bpe_bundle(tmp_path_factory):
    return random_bundle(tmp_path_factory.mktemp("bpe") / "b", ks=(3,), bpe=64)


@pytest.mark.parametrize("rc", [True, False])
def test_a_bpe_member_scores_as_the_tokenizers_string_path(bpe_bundle, sequence, rc):
    scorer = EnsembleScorer(bpe_bundle, ScorerSettings(device="cpu", precision=Precision.fp32, reverse_complement=rc))
    got = scorer.score_chunk(encoded(sequence, bpe_bundle, rc), WINDOW, STRIDE, np.arange(10))
    text = sequence.decode()
    expected = [naive_probability(bpe_bundle, text[j * STRIDE : j * STRIDE + WINDOW], rc) for j in range(10)]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    members = scorer.score_members(encoded(sequence, bpe_bundle, rc), WINDOW, STRIDE, np.arange(10))
    assert np.ptp(members[1]) > 0.01  # the BPE member tells the windows apart


@pytest.mark.parametrize("batch_size, threads", [(1, 1), (3, 2), (64, 1)])
def test_bpe_scores_do_not_depend_on_batch_size_or_workers(bpe_bundle, sequence, batch_size, threads):
    settings = dict(device="cpu", precision=Precision.fp32)
    reference = EnsembleScorer(bpe_bundle, ScorerSettings(**settings, batch_size=256, threads=1))
    other = EnsembleScorer(bpe_bundle, ScorerSettings(**settings, batch_size=batch_size, threads=threads))
    chunk = encoded(sequence, bpe_bundle)
    np.testing.assert_allclose(other.score_members(chunk, WINDOW, STRIDE, np.arange(10)),
                               reference.score_members(chunk, WINDOW, STRIDE, np.arange(10)), atol=1e-5)


def test_bpe_scores_do_not_depend_on_the_chunk(bpe_bundle, sequence):
    # Windows 3..9 scored in a chunk of their own are the windows 3..9 of the whole sequence.
    scorer = EnsembleScorer(bpe_bundle, ScorerSettings(device="cpu", precision=Precision.fp32))
    whole = scorer.score_chunk(encoded(sequence, bpe_bundle), WINDOW, STRIDE, np.arange(10))
    part = scorer.score_chunk(encoded(sequence[3 * STRIDE :], bpe_bundle), WINDOW, STRIDE, np.arange(7))
    np.testing.assert_allclose(part, whole[3:], atol=1e-5)


def test_a_window_and_its_reverse_complement_score_alike_with_a_bpe_member(bpe_bundle, sequence):
    text = sequence.decode()
    seqs = [text[j * STRIDE : j * STRIDE + WINDOW] for j in range(10)]
    ensemble, members = score_sequences(bpe_bundle, seqs)
    flipped, flipped_members = score_sequences(bpe_bundle, [reverse_complement(s.encode()).decode() for s in seqs])
    np.testing.assert_allclose(flipped, ensemble, atol=1e-5)
    np.testing.assert_allclose(flipped_members["bpe"], members["bpe"], atol=1e-5)


def test_bpe_batches_see_few_shapes(bpe_bundle, sequence):
    scorer = EnsembleScorer(bpe_bundle, ScorerSettings(device="cpu", precision=Precision.fp32, batch_size=4))
    shapes = set()
    hook = scorer.models[1].encoder.register_forward_pre_hook(lambda _, args: shapes.add(tuple(args[0].shape)))
    chunk = encoded(sequence, bpe_bundle)
    for n in range(1, 11):
        scorer.score_chunk(chunk, WINDOW, STRIDE, np.arange(n))
    hook.remove()
    assert {rows for rows, _ in shapes} == {8} and all(tokens % 16 == 0 for _, tokens in shapes)


@pytest.mark.slow
def test_a_compiled_bpe_member_gives_the_same_scores(bpe_bundle, sequence):
    chunk = encoded(sequence, bpe_bundle)
    eager = EnsembleScorer(bpe_bundle, ScorerSettings(device="cpu", precision=Precision.fp32, batch_size=4))
    compiled = EnsembleScorer(bpe_bundle, ScorerSettings(device="cpu", precision=Precision.fp32, batch_size=4,
                                                         compile=True))
    np.testing.assert_allclose(compiled.score_chunk(chunk, WINDOW, STRIDE, np.arange(10)),
                               eager.score_chunk(chunk, WINDOW, STRIDE, np.arange(10)), atol=1e-5)
