import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import ielmscan.model.bundle as bundle_module
from ielmscan.errors import BundleError, OutputError
from ielmscan.model.bundle import MANIFEST, describe, load_bundle, new_bundle, save_bundle

from tests.bundles import full_bundle, pickle_trap, random_bundle


def test_save_and_load_give_identical_scores(tmp_path):
    bundle = random_bundle(tmp_path / "b", ks=(3, 5))
    loaded = load_bundle(tmp_path / "b")
    ids = torch.randint(5, 5 + 64, (4, 200))
    ids[:, 0], ids[:, -1] = 2, 3
    for a, b in zip(bundle.members, loaded.members):
        assert a.config == b.config
        if a.config.k == 3:
            assert torch.equal(a.model(ids), b.model(ids))
    assert loaded.ks == [3, 5]
    assert len(loaded.checksum) == 64


def test_manifest_records_members_threshold_window_and_provenance(tmp_path):
    random_bundle(tmp_path / "b", ks=(3, 4, 5, 6))
    data = json.loads((tmp_path / "b" / MANIFEST).read_text())
    assert data["format"] == "ielmscan-bundle" and data["format_version"] == 1
    assert [m["k"] for m in data["members"]] == [3, 4, 5, 6]
    for key in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "max_positions", "weight", "file"):
        assert key in data["members"][0]
    assert data["window"] == 200 and 0 <= data["threshold"] <= 1
    assert "created_by" in data["provenance"]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted(
        [MANIFEST, "k3.safetensors", "k4.safetensors", "k5.safetensors", "k6.safetensors"]
    )


def test_checksum_changes_with_the_weights(tmp_path):
    random_bundle(tmp_path / "a", seed=0)
    random_bundle(tmp_path / "b", seed=1)
    assert load_bundle(tmp_path / "a").checksum == load_bundle(tmp_path / "a").checksum
    assert load_bundle(tmp_path / "a").checksum != load_bundle(tmp_path / "b").checksum


def test_describe_lists_every_member(tmp_path):
    random_bundle(tmp_path / "b", ks=(3, 6))
    text = describe(load_bundle(tmp_path / "b"))
    assert "k3" in text and "k6" in text and "threshold" in text


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda d: (d / MANIFEST).unlink(), "no ensemble.json"),
        (lambda d: (d / MANIFEST).write_text("{not json"), "not valid JSON"),
        (lambda d: (d / "k3.safetensors").unlink(), "k3.safetensors is missing"),
        (lambda d: (d / "k3.safetensors").write_bytes(b"garbage"), "k3"),
        (lambda d: _edit(d, lambda m: m["members"][0].update(hidden_size=64)), "shape"),
        (lambda d: _edit(d, lambda m: m.update(threshold=1.5)), "threshold"),
        (lambda d: _edit(d, lambda m: m.update(format_version=99)), "format version"),
        (lambda d: _edit(d, lambda m: m.update(window=1000)), "window 1000"),
        (lambda d: _edit(d, lambda m: m.update(members=[])), "no members"),
    ],
)
def test_broken_bundles_raise_one_line_errors_naming_the_bundle(tmp_path, breakage, message):
    random_bundle(tmp_path / "b", ks=(3, 4))
    breakage(tmp_path / "b")
    with pytest.raises(BundleError, match=message) as err:
        load_bundle(tmp_path / "b")
    assert str(tmp_path / "b") in str(err.value)
    assert "\n" not in str(err.value)


def test_pickled_weights_are_refused_not_unpickled(tmp_path):
    random_bundle(tmp_path / "b", ks=(3,))
    torch.save({"x": torch.zeros(1)}, tmp_path / "b" / "k3.safetensors")
    with pytest.raises(BundleError):
        load_bundle(tmp_path / "b")


def test_extra_tensors_in_a_member_file_are_refused(tmp_path):
    bundle = random_bundle(tmp_path / "b", ks=(3,))
    state = {k: v.contiguous() for k, v in bundle.members[0].model.state_dict().items()}
    state["smuggled"] = torch.zeros(2)
    save_file(state, tmp_path / "b" / "k3.safetensors")
    with pytest.raises(BundleError, match="unexpected"):
        load_bundle(tmp_path / "b")


def test_new_bundle_refuses_a_shape_beyond_the_limits_before_allocating(monkeypatch):
    monkeypatch.setattr(bundle_module, "EnhancerLM", _Never)
    with pytest.raises(BundleError, match=r"^max_positions is 100000000: it must be in \[3, 8192\]"):
        new_bundle([3], max_positions=100_000_000)
    with pytest.raises(BundleError, match=r"^member k6 declares [\d,]+ parameters"):
        new_bundle([6], hidden_size=4096, num_layers=48, intermediate_size=16384, max_positions=512)


def test_new_bundle_rejects_bad_shapes():
    with pytest.raises(BundleError, match="duplicate"):
        new_bundle([3, 3])
    with pytest.raises(BundleError, match="multiple"):
        new_bundle([3], hidden_size=30, num_heads=4)
    with pytest.raises(BundleError, match="does not fit"):
        new_bundle([3], max_positions=64, window=200)


def test_saving_over_a_folder_that_is_not_a_bundle_is_refused(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.txt").write_text("keep me")
    for force in (False, True):
        with pytest.raises(OutputError, match="not a model bundle"):
            save_bundle(new_bundle([3], hidden_size=8, num_heads=2), tmp_path / "data", force=force)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["precious.txt"]


def test_saving_over_a_bundle_needs_force_and_replaces_only_its_files(tmp_path):
    from ielmscan.model.bundle import attach_layer2

    two_stage = attach_layer2(new_bundle([3, 4], hidden_size=8, num_heads=2),
                              new_bundle([5], hidden_size=8, num_heads=2))
    save_bundle(two_stage, tmp_path / "b")
    (tmp_path / "b" / "notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir() if p.is_file()}
    with pytest.raises(OutputError, match="already exists: --force replaces it"):
        save_bundle(new_bundle([6], hidden_size=8, num_heads=2), tmp_path / "b")
    assert {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir() if p.is_file()} == before
    with pytest.raises(OutputError, match="would overwrite the input"):
        save_bundle(new_bundle([6], hidden_size=8, num_heads=2), tmp_path / "b", inputs=[tmp_path / "b"], force=True)
    save_bundle(new_bundle([6], hidden_size=8, num_heads=2), tmp_path / "b", force=True)
    # k3, k4 and layer2/ were the earlier bundle's and go; notes.txt was never the bundle's and stays.
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["ensemble.json", "k6.safetensors", "notes.txt"]
    assert load_bundle(tmp_path / "b").ks == [6]


def _edit(directory, change):
    path = directory / MANIFEST
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_saved_bundles_are_readable_by_others(tmp_path):
    random_bundle(tmp_path / "b", ks=(3,))
    assert (tmp_path / "b").stat().st_mode & 0o005 == 0o005
    assert (tmp_path / "b" / "k3.safetensors").stat().st_mode & 0o004


def test_layer2_travels_inside_the_bundle_and_counts_in_its_checksum(tmp_path):
    from ielmscan.model.bundle import attach_layer2

    layer1 = random_bundle(tmp_path / "l1", ks=(3,), seed=0)
    layer2 = random_bundle(tmp_path / "l2", ks=(4,), seed=1)
    save_bundle(attach_layer2(load_bundle(tmp_path / "l1"), load_bundle(tmp_path / "l2")), tmp_path / "both")
    both = load_bundle(tmp_path / "both")
    assert both.ks == [3] and both.layer2 is not None and both.layer2.ks == [4]
    assert both.folders() == [tmp_path / "both", tmp_path / "both" / "layer2"]
    assert (tmp_path / "both" / "layer2" / "ensemble.json").is_file()
    assert both.checksum != load_bundle(tmp_path / "l1").checksum
    assert "layer2" in describe(both)
    with pytest.raises(BundleError, match="layer2 of its own"):
        attach_layer2(layer1, both)
    other_window = new_bundle([3], hidden_size=8, num_heads=2, window=150)
    with pytest.raises(BundleError, match="window mismatch"):
        attach_layer2(layer2, other_window)
    (tmp_path / "both" / "layer2" / "k4.safetensors").unlink()
    with pytest.raises(BundleError, match="k4.safetensors is missing"):
        load_bundle(tmp_path / "both")


# --- What load_bundle validates (docs/security.md): one check at load, so every command refuses alike. ---

@pytest.fixture(scope="module")
def full_dir(tmp_path_factory):
    """A saved bundle with every part: members k = 3, 4, a first stage, a calibration and a layer2 (k = 5)."""
    directory = tmp_path_factory.mktemp("full") / "b"
    full_bundle(directory)
    return directory


@pytest.fixture
def full(full_dir, tmp_path):
    """A fresh copy of the full bundle for a test to spoil."""
    shutil.copytree(full_dir, tmp_path / "b")
    return tmp_path / "b"


def _spoil_tensor(path, name, value):
    state = load_file(path)
    state[name] = state[name].clone()
    state[name].view(-1)[0] = value
    save_file(state, path)


def test_the_full_bundle_loads_with_every_part(full):
    bundle = load_bundle(full)
    assert bundle.ks == [3, 4] and bundle.layer2.ks == [5]
    assert bundle.cascade.ks == [1, 2] and bundle.calibration.windows == 200


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("file, tensor", [
    ("k3.safetensors", "encoder.embeddings.word.weight"),
    ("k4.safetensors", "head_out.bias"),
    ("layer2/k5.safetensors", "encoder.layers.0.attention.query.weight"),
    ("cascade.safetensors", "weights"),
    ("calibration.safetensors", "scores"),
])
def test_non_finite_numbers_in_any_tensor_are_refused_naming_file_and_tensor(full, file, tensor, value):
    _spoil_tensor(full / file, tensor, value)
    with pytest.raises(BundleError) as err:
        load_bundle(full)
    message = str(err.value)
    assert Path(file).name in message and tensor in message and "NaN or infinite" in message, message


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["members[1].weight", "threshold", "cascade.threshold", "cascade.bias"])
def test_non_finite_numbers_in_ensemble_json_are_refused_naming_the_field(full, field, text):
    # Python's JSON reads NaN and Infinity; a NaN weight made every score NaN and a scan "skip" every window.
    raw = (full / MANIFEST).read_text()
    data = json.loads(raw)
    target = {"members[1].weight": (data["members"][1], "weight"), "threshold": (data, "threshold"),
              "cascade.threshold": (data["cascade"], "threshold"), "cascade.bias": (data["cascade"], "bias")}[field]
    target[0][target[1]] = "@@"
    (full / MANIFEST).write_text(json.dumps(data).replace('"@@"', text))
    with pytest.raises(BundleError, match=re.escape(f"ensemble.json: {field} must be a finite number")):
        load_bundle(full)


@pytest.mark.parametrize("change, message", [
    (lambda m: m["members"][1].update(k=3), r"members\[1\].k is 3, as is members\[0\].k: a bundle has one member"),
    (lambda m: m["members"].append("k5"), r"members\[2\] must be a JSON object, not 'k5'"),
    (lambda m: m.update(members={"k3": {}}), r"members must be a list of at least one member, not an object"),
    (lambda m: m.update(cascade="cascade.safetensors"), r"cascade must be a JSON object"),
    (lambda m: m.update(cascade=[1, 2]), r"cascade must be a JSON object, not a list"),
    (lambda m: m["cascade"].update(ks="12"), r"cascade.ks must be a list of distinct whole numbers in \[1, 8\]"),
    (lambda m: m["cascade"].update(ks=[1, 2, 3]), r"weights has shape \(2, 16\), config says \(3, 64\)"),
    (lambda m: m["cascade"]["calibration"].update(training_recall="high"), r"cascade.calibration.training_recall"),
    (lambda m: m.update(calibration=[]), r"calibration must be a JSON object"),
    (lambda m: m["calibration"].update(windows=5), r"calibration.windows is 5, but calibration.safetensors holds 200"),
    (lambda m: m["calibration"]["source"].update(window="200"), r"calibration.source.window must be a whole number"),
    (lambda m: m["members"][0].update(k=9), r"members\[0\].k is 9: it must be in \[1, 8\]"),
    (lambda m: m["members"][0].update(k="3"), r"members\[0\].k must be a whole number"),
    (lambda m: m["members"][0].update(k=True), r"members\[0\].k must be a whole number"),
    (lambda m: m["members"][0].pop("k"), r"members\[0\].k is missing"),
    (lambda m: m["members"][0].update(num_heads=5), r"members\[0\].num_heads is 5: it must divide hidden_size 32"),
    (lambda m: m["members"][0].update(num_layers=0), r"members\[0\].num_layers is 0"),
    (lambda m: m["members"][0].update(dropout=1.0), r"members\[0\].dropout is 1"),
    (lambda m: m["members"][0].update(weight=-1), r"members\[0\].weight is -1: it must be >= 0"),
    (lambda m: [e.update(weight=0) for e in m["members"]], r"members all have weight 0"),
    (lambda m: m["members"][1].update(name="k3"), r"members\[1\].name is 'k3', as is members\[0\].name"),
    (lambda m: m["members"][1].update(file="k3.safetensors"), r"members\[1\].file is 'k3.safetensors', as is"),
    (lambda m: m["members"][0].update(name="../k3"), r"members\[0\].name '../k3' must be a plain file name"),
    (lambda m: m.update(threshold=1.5), r"threshold is 1.5: it must be in \[0, 1\]"),
    (lambda m: m.update(threshold="0.5"), r"threshold must be a finite number in \[0, 1\], not '0.5'"),
    (lambda m: m.update(window=2.5), r"window must be a whole number"),
    (lambda m: m.update(provenance=["me"]), r"provenance must be a JSON object"),
    (lambda m: m.update(layer2="../other"), r'layer2 must name the subfolder "layer2"'),
    (lambda m: m.update(format_version=True), r"format version true is not supported"),
    (lambda m: m.update(format_version="1"), r"format version '1' is not supported"),
])
def test_every_field_of_ensemble_json_is_checked_in_one_line(full, change, message):
    _edit(full, change)
    with pytest.raises(BundleError, match=message) as err:
        load_bundle(full)
    assert str(full) in str(err.value) and "\n" not in str(err.value)


class _Never:
    """Stands in for what must not run: building a network, reading tensors."""

    def __init__(self, *args, **kwargs):
        raise AssertionError("called before the bundle was checked")


@pytest.mark.parametrize("change, message", [
    (lambda m: m["members"][0].update(max_positions=100_000_000),
     r"members\[0\].max_positions is 100000000: it must be in \[3, 8192\]"),
    (lambda m: m["members"][0].update(hidden_size=4096, num_layers=48, intermediate_size=16384),
     r"members\[0\] declares [\d,]+ parameters: ielmscan loads at most 1,000,000,000 per member"),
])
def test_a_huge_config_is_refused_before_anything_is_allocated_or_read(full, monkeypatch, change, message):
    # max_positions 1e8 used to cost 12.7 GB and most of a minute before the error.
    monkeypatch.setattr(bundle_module, "EnhancerLM", _Never)
    monkeypatch.setattr(bundle_module, "load_file", _Never)
    monkeypatch.setattr(bundle_module, "tensor_header", _Never)
    _edit(full, change)
    with pytest.raises(BundleError, match=message):
        load_bundle(full)


def test_tensor_shapes_are_checked_against_the_config_before_the_network_is_built(full, monkeypatch):
    monkeypatch.setattr(bundle_module, "EnhancerLM", _Never)
    monkeypatch.setattr(bundle_module, "load_file", _Never)
    _edit(full, lambda m: m["members"][1].update(max_positions=300))
    with pytest.raises(BundleError, match=r"k4.safetensors: encoder.embeddings.position.weight has shape "
                                          r"\(256, 32\), config says \(300, 32\)"):
        load_bundle(full)


def test_integer_tensors_are_refused(full):
    state = load_file(full / "k3.safetensors")
    state["head_out.bias"] = torch.zeros(1, dtype=torch.int64)
    save_file(state, full / "k3.safetensors")
    with pytest.raises(BundleError, match="k3.safetensors: tensor head_out.bias is I64"):
        load_bundle(full)


@pytest.mark.parametrize("name", ["../b2/k3.safetensors", "/tmp/k3.safetensors", "sub/k3.safetensors"])
def test_member_files_must_be_plain_names_in_the_bundle_folder(full, name):
    _edit(full, lambda m: m["members"][0].update(file=name))
    with pytest.raises(BundleError, match=re.escape(f"members[0].file '{name}' must be a plain file name")):
        load_bundle(full)


def test_files_linked_from_outside_the_bundle_are_refused_links_inside_are_fine(full, tmp_path):
    (full / "k3.safetensors").rename(full / "weights.safetensors")
    (full / "k3.safetensors").symlink_to("weights.safetensors")
    assert load_bundle(full).ks == [3, 4]
    shutil.copy(full / "k4.safetensors", tmp_path / "elsewhere.safetensors")
    (full / "k4.safetensors").unlink()
    (full / "k4.safetensors").symlink_to(tmp_path / "elsewhere.safetensors")
    with pytest.raises(BundleError, match="member file k4.safetensors is a link to .*, outside the bundle folder"):
        load_bundle(full)
    (full / "k4.safetensors").unlink()
    (full / "k4.safetensors").symlink_to("k4.safetensors")
    with pytest.raises(BundleError, match="member file k4.safetensors is a symlink loop"):
        load_bundle(full)


def test_a_manifest_linked_from_elsewhere_or_a_fifo_is_refused(full, tmp_path):
    (tmp_path / "elsewhere.json").write_text((full / MANIFEST).read_text())
    (full / MANIFEST).unlink()
    (full / MANIFEST).symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(BundleError, match="manifest ensemble.json is a link to .*, outside the bundle folder"):
        load_bundle(full)
    (full / MANIFEST).unlink()
    os.mkfifo(full / MANIFEST)  # reading it would wait for a writer forever
    with pytest.raises(BundleError, match="manifest ensemble.json is not a file"):
        load_bundle(full)


def test_a_layer2_linked_to_its_own_bundle_is_one_short_line(full):
    # It used to recurse forty times and name layer2/layer2/... in the message.
    shutil.rmtree(full / "layer2")
    (full / "layer2").symlink_to(".")
    with pytest.raises(BundleError, match="layer2 folder layer2 is a link to the bundle folder itself") as err:
        load_bundle(full)
    assert "layer2/layer2" not in str(err.value)


def test_a_layer2_may_not_have_a_layer2_of_its_own(full):
    shutil.copytree(full / "layer2", full / "layer2" / "layer2")
    _edit(full / "layer2", lambda m: m.update(layer2="layer2"))
    with pytest.raises(BundleError, match=r"b/layer2: ensemble.json: layer2 is not allowed here"):
        load_bundle(full)


@pytest.mark.parametrize("file", ["k3.safetensors", "k3.bin", "k3.pt"])
def test_pickles_given_as_weights_are_refused_and_never_unpickled(full, tmp_path, file):
    trap = tmp_path / "unpickled"
    (full / file).write_bytes(pickle_trap(trap))
    _edit(full, lambda m: m["members"][0].update(file=file))
    with pytest.raises(BundleError, match=f"{re.escape(file)} is not a readable safetensors file"):
        load_bundle(full)
    assert not trap.exists()


def test_a_truncated_member_file_is_refused(full):
    data = (full / "k4.safetensors").read_bytes()
    (full / "k4.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="k4.safetensors is not a readable safetensors file"):
        load_bundle(full)


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", "not an ielmscan bundle manifest"),
    ('"ielmscan-bundle"', "not an ielmscan bundle manifest"),
    ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ("\xff\xfe", "not valid JSON"),
])
def test_a_manifest_that_is_not_a_json_object_is_one_line(full, text, message):
    (full / MANIFEST).write_bytes(text.encode("latin-1"))
    with pytest.raises(BundleError, match=message):
        load_bundle(full)


def test_nothing_in_the_project_can_unpickle_a_file():
    # Bundles are read as JSON and safetensors only; a pickle loader anywhere would be a way to run a file's code.
    # Allowed: torch.load(..., weights_only=True), which refuses anything but tensors and plain containers.
    root = Path(__file__).resolve().parents[2]
    found = []
    for path in (p for folder in ("ielmscan", "kernels", "benchmarks") for p in (root / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            keywords = {k.arg: k.value for k in node.keywords}
            weights_only = keywords.get("weights_only")
            safe_torch = isinstance(weights_only, ast.Constant) and weights_only.value is True
            if (re.fullmatch(r"(pickle|dill|joblib|cloudpickle)\.loads?|.*Unpickler", name)
                    or (name.endswith("torch.load") and not safe_torch)
                    or (isinstance(keywords.get("allow_pickle"), ast.Constant) and keywords["allow_pickle"].value)):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
    assert found == []


def test_bundle_files_of_an_odd_manifest_own_only_the_manifest(tmp_path):
    from ielmscan.model.bundle import bundle_files

    for text in ("[1]", '{"members": "k3", "cascade": 5}', '{"members": [5, {"name": "k3"}]}'):
        (tmp_path / MANIFEST).write_text(text)
        assert bundle_files(tmp_path) == {MANIFEST}


# --- A BPE member: its tokenizer file beside its weights, in the manifest, the checksum and the folder's files. ---

@pytest.fixture(scope="module")
def bpe_dir(tmp_path_factory):
    """A saved bundle of a k = 3 member and a BPE member of 64 tokens."""
    directory = tmp_path_factory.mktemp("bpe") / "b"
    random_bundle(directory, ks=(3,), hidden=16, bpe=64)
    return directory


def test_a_bpe_member_saves_its_tokenizer_and_loads_with_the_same_scores(bpe_dir, tmp_path):
    from ielmscan.inference.scorer import score_sequences

    bundle = load_bundle(bpe_dir)
    data = json.loads((bpe_dir / MANIFEST).read_text())
    assert data["format_version"] == 2  # an earlier ielmscan says it reads 1 rather than failing on a field
    entry = data["members"][1]
    assert entry["tokenizer"] == "bpe" and entry["vocab_size"] == 64 and "k" not in entry
    assert entry["tokenizer_file"] == "bpe.tokenizer.json" and entry["max_positions"] == bundle.window + 2
    assert sorted(p.name for p in bpe_dir.iterdir()) == sorted(
        [MANIFEST, "k3.safetensors", "bpe.safetensors", "bpe.tokenizer.json"])
    assert bundle.ks == [3] and bundle.labels == [3, "bpe64"] and bundle.max_window() == 200
    assert [m.tokenizer.kind for m in bundle.members] == ["kmer", "bpe"]
    assert bundle.members[1].tokenizer.to_json() == (bpe_dir / "bpe.tokenizer.json").read_text()
    assert "bpe64" in describe(bundle)
    seqs = ["".join(np.random.default_rng(i).choice(list("ACGT"), 200)) for i in range(4)]
    save_bundle(bundle, tmp_path / "again")
    first, second = score_sequences(bundle, seqs)[1]["bpe"], score_sequences(load_bundle(tmp_path / "again"), seqs)[1]["bpe"]
    np.testing.assert_array_equal(first, second)
    assert load_bundle(tmp_path / "again").checksum == bundle.checksum  # saving is deterministic


def test_the_checksum_covers_the_tokenizer_file(bpe_dir, tmp_path):
    shutil.copytree(bpe_dir, tmp_path / "b")
    path = tmp_path / "b" / "bpe.tokenizer.json"
    path.write_text(json.dumps(json.loads(path.read_text()), indent=1))  # the same tokenizer, other bytes
    assert load_bundle(tmp_path / "b").checksum != load_bundle(bpe_dir).checksum


def test_a_bundle_of_kmer_members_stays_format_version_1_and_version_1_holds_no_bpe_member(bpe_dir, tmp_path):
    random_bundle(tmp_path / "k", ks=(3,))
    assert json.loads((tmp_path / "k" / MANIFEST).read_text())["format_version"] == 1
    shutil.copytree(bpe_dir, tmp_path / "b")
    _edit(tmp_path / "b", lambda m: m.update(format_version=1))
    with pytest.raises(BundleError, match=r"members\[1\].tokenizer is 'bpe', but the manifest's format version 1"):
        load_bundle(tmp_path / "b")


def test_saving_over_a_bpe_bundle_replaces_its_tokenizer_file_too(bpe_dir, tmp_path):
    shutil.copytree(bpe_dir, tmp_path / "b")
    save_bundle(new_bundle([4], hidden_size=8, num_heads=2), tmp_path / "b", force=True)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["ensemble.json", "k4.safetensors"]


def test_a_bpe_member_needs_its_tokenizer_and_a_window_that_fits_its_positions(bpe_dir):
    from ielmscan.model.bundle import Member
    from ielmscan.model.network import EnhancerLM, MemberConfig

    cfg = MemberConfig(tokenizer="bpe", vocab_size=64, hidden_size=8, num_heads=2)
    with pytest.raises(BundleError, match="needs its trained tokenizer"):
        Member("bpe", cfg, 1.0, EnhancerLM(cfg))
    tokenizer = load_bundle(bpe_dir).members[1].tokenizer
    assert new_bundle([], hidden_size=8, num_heads=2, window=80, bpe=tokenizer).members[0].config.max_positions == 82
    with pytest.raises(BundleError, match="at least one member"):
        new_bundle([], hidden_size=8, num_heads=2)


# A disk that fills up while a bundle is written (a file-size limit stands in for it): one OutputError naming
# the bundle, nothing left behind, an earlier bundle there untouched. safetensors reports the OS error only
# inside its own exception's message.
_FILLS_UP = """
import resource, signal, sys
from ielmscan.model.bundle import new_bundle, save_bundle
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
bundle = new_bundle([3, 4], hidden_size=16, num_layers=1, num_heads=2, window=50, seed=1)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
try:
    save_bundle(bundle, sys.argv[1], force=True)
    print("complete")
except Exception as exc:
    print(type(exc).__name__, exc)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE as a full disk")
@pytest.mark.parametrize("earlier", [False, True])
def test_a_bundle_that_fills_the_disk_fails_in_one_line_and_leaves_no_trace(tmp_path: Path, earlier: bool) -> None:
    target = tmp_path / "model"
    if earlier:
        save_bundle(new_bundle([3], hidden_size=8, num_layers=1, num_heads=2, window=50, seed=0), target)
    before = {p.name: p.read_bytes() for p in target.iterdir()} if earlier else None
    proc = subprocess.run([sys.executable, "-c", _FILLS_UP, str(target), "4000"], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == f"OutputError cannot write model bundle {target}: File too large"
    assert sorted(p.name for p in tmp_path.iterdir()) == (["model"] if earlier else [])
    if earlier:
        assert {p.name: p.read_bytes() for p in target.iterdir()} == before
