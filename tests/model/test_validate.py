"""The checks every bundle file passes at load: typed JSON fields, names inside the bundle, safetensors headers."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from ielmscan.errors import BundleError
from ielmscan.model.validate import Entry, bundle_folder, check_finite, check_tensors, inside, tensor_header

from tests.bundles import pickle_trap


def entry(data, tmp_path, where="members[0]"):
    return Entry(data, tmp_path, where)


def test_an_entry_must_be_an_object_and_errors_name_the_file_and_field(tmp_path):
    with pytest.raises(BundleError, match=r"ensemble.json: members\[2\] must be a JSON object, not 'k3'"):
        Entry("k3", tmp_path, "members[2]")
    with pytest.raises(BundleError, match=r"ensemble.json: members\[0\].k is missing") as err:
        entry({}, tmp_path).integer("k", 1, 8)
    assert str(tmp_path) in str(err.value)


@pytest.mark.parametrize("value", [True, "3", 3.0, None, [3]])
def test_integers_are_whole_numbers_not_booleans_strings_or_floats(tmp_path, value):
    with pytest.raises(BundleError, match=r"members\[0\].k must be a whole number in \[1, 8\]"):
        entry({"k": value}, tmp_path).integer("k", 1, 8)


def test_integers_outside_their_range_name_the_limit(tmp_path):
    with pytest.raises(BundleError, match=r"max_positions is 100000000: it must be in \[3, 8192\] \(the limit\)"):
        entry({"max_positions": 100_000_000}, tmp_path).integer("max_positions", 3, 8192, note=" (the limit)")
    assert entry({"k": 8}, tmp_path).integer("k", 1, 8) == 8
    assert entry({}, tmp_path).integer("k", 1, 8, default=3) == 3


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", '"0.5"', "true", "null"])
def test_numbers_must_be_finite_numbers(tmp_path, text):
    data = json.loads(f'{{"weight": {text}}}')  # Python's JSON reads NaN and Infinity
    with pytest.raises(BundleError, match=r"members\[0\].weight must be a finite number"):
        entry(data, tmp_path).number("weight", 0.0)


def test_number_ranges_open_and_closed(tmp_path):
    e = entry({"threshold": 1.0, "dropout": 1.0, "eps": 0.0, "w": -0.5}, tmp_path, "")
    assert e.number("threshold", 0.0, 1.0) == 1.0
    with pytest.raises(BundleError, match=r"dropout is 1: it must be in \[0, 1\)"):
        e.number("dropout", 0.0, 1.0, open_high=True)
    with pytest.raises(BundleError, match=r"eps is 0: it must be in \(0, 1\]"):
        e.number("eps", 0.0, 1.0, open_low=True)
    with pytest.raises(BundleError, match=r"ensemble.json: w is -0.5: it must be >= 0"):
        e.number("w", 0.0)
    assert e.number("missing", default=0.5) == 0.5


def test_integer_lists_are_distinct_whole_numbers_in_range(tmp_path):
    assert entry({"ks": [1, 2, 3]}, tmp_path, "cascade").integers("ks", 1, 8) == [1, 2, 3]
    for bad in ("12345", [], [1, 1], [1, 9], [1, True], [1.0]):
        with pytest.raises(BundleError, match=r"cascade.ks must be a list of distinct whole numbers in \[1, 8\]"):
            entry({"ks": bad}, tmp_path, "cascade").integers("ks", 1, 8)


@pytest.mark.parametrize("name", ["../k3.safetensors", "/etc/passwd", "sub/k3.safetensors", "..", ".", "", 3])
def test_file_names_are_plain_names_in_the_bundle_folder(tmp_path, name):
    with pytest.raises(BundleError, match=r"members\[0\].file"):
        entry({"file": name}, tmp_path).file_name("file")


def test_inside_follows_links_only_within_the_bundle(tmp_path):
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "real.safetensors").write_bytes(b"x")
    (tmp_path / "secret").write_bytes(b"x")
    (bundle / "alias.safetensors").symlink_to("real.safetensors")
    (bundle / "out.safetensors").symlink_to(tmp_path / "secret")
    (bundle / "loop.safetensors").symlink_to("loop.safetensors")
    (bundle / "self").symlink_to(".")
    assert inside(bundle, "alias.safetensors", "member file") == bundle / "alias.safetensors"
    with pytest.raises(BundleError, match="out.safetensors is a link to .*secret, outside the bundle folder"):
        inside(bundle, "out.safetensors", "member file")
    with pytest.raises(BundleError, match="member file loop.safetensors is a symlink loop"):
        inside(bundle, "loop.safetensors", "member file")
    with pytest.raises(BundleError, match="member file gone.safetensors is missing"):
        inside(bundle, "gone.safetensors", "member file")
    with pytest.raises(BundleError, match="layer2 folder self is a link to the bundle folder itself"):
        inside(bundle, "self", "layer2 folder", folder=True)
    with pytest.raises(BundleError, match="is not a folder"):
        inside(bundle, "real.safetensors", "layer2 folder", folder=True)


def test_a_bundle_reached_through_a_link_is_fine_a_loop_is_one_line(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "link").symlink_to("b")
    assert bundle_folder(tmp_path / "link") == (tmp_path / "b").resolve()
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(BundleError, match="loop: is a symlink loop"):
        bundle_folder(tmp_path / "loop")
    with pytest.raises(BundleError, match="not a directory"):
        bundle_folder(tmp_path / "absent")


def test_headers_are_read_without_the_tensors_and_never_unpickle(tmp_path):
    save_file({"a": torch.zeros(2, 3), "b": torch.zeros(4, dtype=torch.float16)}, tmp_path / "ok.safetensors")
    assert tensor_header(tmp_path, tmp_path / "ok.safetensors") == {"a": ("F32", (2, 3)), "b": ("F16", (4,))}
    data = (tmp_path / "ok.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:-5])
    (tmp_path / "k3.bin").write_bytes(pickle_trap(tmp_path / "unpickled"))
    torch.save({"w": torch.zeros(1)}, tmp_path / "k3.pt")
    for name in ("cut.safetensors", "k3.bin", "k3.pt"):
        with pytest.raises(BundleError, match=f"{name} is not a readable safetensors file .*never loaded"):
            tensor_header(tmp_path, tmp_path / name)
    assert not (tmp_path / "unpickled").exists()


def test_tensors_must_match_names_shapes_and_float_dtypes(tmp_path):
    expected = {"w": (2, 3)}
    check_tensors(tmp_path, "f", {"w": ("F32", (2, 3))}, expected)
    with pytest.raises(BundleError, match=r"missing \['w'\], unexpected \['x'\]"):
        check_tensors(tmp_path, "f", {"x": ("F32", (2, 3))}, expected)
    with pytest.raises(BundleError, match=r"f: w has shape \(3, 2\), config says \(2, 3\)"):
        check_tensors(tmp_path, "f", {"w": ("F32", (3, 2))}, expected)
    with pytest.raises(BundleError, match="f: tensor w is I64: weights must be one of F16, BF16, F32, F64"):
        check_tensors(tmp_path, "f", {"w": ("I64", (2, 3))}, expected)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_tensors_are_named(tmp_path, bad):
    good = np.zeros(3, dtype=np.float32)
    check_finite("f", {"a": good, "b": torch.zeros(3, dtype=torch.bfloat16)})
    for tensor in (np.array([0.0, bad], dtype=np.float32), torch.tensor([0.0, bad], dtype=torch.bfloat16)):
        with pytest.raises(BundleError, match="^model bundle b: k3.safetensors: tensor w holds NaN or infinite values$"):
            check_finite("model bundle b: k3.safetensors", {"ok": good, "w": tensor})
