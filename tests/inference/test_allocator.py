import os
import platform
import subprocess
import sys

import pytest
import torch

from ielmscan.inference.allocator import retain_freed_memory

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc only")

# ielmscan's CPU scorer (2 workers, bf16) on 256 windows, in a fresh process since malloc settings are
# per process; prints whether the scorer's malloc settings took effect and the page faults per call once warm.
PROBE = """
import resource, numpy as np
from ielmscan.inference.allocator import retain_freed_memory
from ielmscan.model.bundle import new_bundle
from ielmscan.inference.scorer import EnsembleScorer, ScorerSettings
from ielmscan.inference.windows import encode_chunk
from ielmscan.kernels.encode import encode_bases
bundle = new_bundle([3, 4], hidden_size=64, num_layers=1, num_heads=4, seed=0)
windows = 256
bases = np.random.default_rng(0).choice(np.frombuffer(b"ACGT", dtype=np.uint8), (windows - 1) * 50 + 200)
codes = encode_bases(bases)
chunk = encode_chunk(codes, bundle.ks, True)
scorer = EnsembleScorer(bundle, ScorerSettings(device="cpu", precision="bf16", threads=2))
rows = np.arange(windows)
scorer.score_members(chunk, 200, 50, rows)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    scorer.score_members(chunk, 200, 50, rows)
print(retain_freed_memory(), (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3)
"""


def probe(**env: str) -> tuple[bool, float]:
    base = {name: value for name, value in os.environ.items() if not name.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         env={**base, **env}).stdout.split()
    return out[0] == "True", float(out[1])


def test_scorer_keeps_freed_memory_instead_of_faulting_it_back_in():
    applied, faults = probe()
    assert applied
    # Measured per call: 200-3,500 page faults with the settings; with glibc's defaults usually
    # 34,000-69,000 (the tensors' pages are handed back and faulted in again), though now and then a
    # process's allocation history keeps them (~2,500), so the defaults are not a stable reference.
    assert faults < 10_000


def test_malloc_settings_from_the_environment_are_left_alone():
    # glibc.malloc.perturb=0 is glibc's default: the user's environment, not a different malloc.
    applied, _ = probe(GLIBC_TUNABLES="glibc.malloc.perturb=0")
    assert not applied


def test_gpu_work_leaves_malloc_alone():
    assert retain_freed_memory(torch.device("cuda")) is False
