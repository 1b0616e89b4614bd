import json

import pytest
import torch
from safetensors.torch import save_file

from ielmscan.errors import BundleError, OutputError
from ielmscan.model.bundle import MANIFEST, describe, load_bundle, new_bundle, save_bundle

from tests.bundles import random_bundle


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
