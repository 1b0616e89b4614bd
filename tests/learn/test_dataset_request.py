"""Tests for ielmscan.learn.dataset_request: the options of `dataset build` checked before any input is read."""
from __future__ import annotations

import pytest

from ielmscan.errors import InputError, OutputError
from ielmscan.learn.dataset_request import BuildRequest, check_request


@pytest.mark.parametrize("kwargs, message", [
    ({}, "no positives"),
    ({"peaks": "p.bed"}, "--peaks needs --genome"),
    ({"pos_fastas": ["p.fa"]}, "no negatives"),
    ({"pos_fastas": ["p.fa"], "genome": "g.fa", "background_ratio": 0}, "no negatives"),
    ({"pos_fastas": ["p.fa"], "neg_fastas": ["n.fa"], "blacklist": "b.bed"}, "--blacklist needs --genome"),
    ({"pos_fastas": ["p.fa"], "neg_fastas": ["n.fa"], "window": 0}, "--window"),
    ({"pos_fastas": ["p.fa"], "neg_fastas": ["n.fa"], "val_fraction": 0.6, "test_fraction": 0.4}, "sum"),
    ({"pos_fastas": ["p.fa"], "neg_fastas": ["n.fa"], "val_chroms": ["chr1"], "test_chroms": ["chr1"]}, "both"),
])
def test_bad_option_combinations_are_refused_before_reading(tmp_path, kwargs, message):
    request = BuildRequest(**{"output": tmp_path / "out", **kwargs})
    with pytest.raises((InputError, OutputError), match=message):
        check_request(request)
