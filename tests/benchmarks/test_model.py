"""benchmarks/sections/model.py: the matmul peak and the inputs of the forward-pass timings, on the CPU."""
from __future__ import annotations

import argparse

import torch

from ielmscan.model.bundle import load_bundle
from ielmscan.model.tokens import CLS_ID, NUM_SPECIAL, SEP_ID

from benchmarks.sections import model
from tests.bundles import random_bundle


def test_matmul_peak_is_the_best_size():
    peak, per_size = model.matmul_peak(torch.device("cpu"), "fp32", [32, 64], tries=1)
    assert set(per_size) == {32, 64} and peak == max(per_size.values()) > 0


def test_ensemble_inputs_and_scorer_flops(tmp_path):
    random_bundle(tmp_path / "rand", ks=(3, 4), hidden=16)
    bundle = load_bundle(tmp_path / "rand")
    inputs = model.ensemble_inputs(bundle, 4, torch.device("cpu"))
    for member, ids in zip(bundle.members, inputs):
        k = member.config.k
        assert ids.shape == (8, bundle.window - k + 3)  # both strands; [CLS] k-mers [SEP]
        assert (ids[:, 0] == CLS_ID).all() and (ids[:, -1] == SEP_ID).all()
        assert ids[:, 1:-1].min() >= NUM_SPECIAL and ids[:, 1:-1].max() < NUM_SPECIAL + 4**k
    details = {}
    flops, note = model.scorer_flops(argparse.Namespace(batch_size=4, repeats=1), bundle, torch.device("cpu"),
                                     "fp32", details)
    assert flops > 0 and "workers" in note and details["scorer_fp32"]["flops"] > 0
