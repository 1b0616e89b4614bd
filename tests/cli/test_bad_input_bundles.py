"""Spoiled model bundles, one row each (harness: bad_input.py): `model info` and `scan` refuse each with the same line.

Every command loads bundles through one validation (ielmscan.model.bundle.load_bundle, docs/security.md), so a
bundle that one command refuses, every command refuses, before any work and with the same message.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from ielmscan.cli import app
from ielmscan.io.synthetic import write_synthetic_genome
from ielmscan.model.bundle import MANIFEST

from tests.bundles import full_bundle, pickle_trap, random_bundle
from tests.cli.bad_input import Case, cases, check_refusal, runner

COMMANDS = {"model info": ["model", "info", "model"], "scan": ["scan", "g.fa", "--model", "model", "-o", "out"]}


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random bundle with every part (members k = 3, 4, first stage, calibration, layer2 k = 5)."""
    directory = tmp_path_factory.mktemp("bundle") / "full"
    full_bundle(directory)
    return directory


def user_folder(folder: Path, bundle_dir: Path) -> Path:
    """A user's folder with a good genome `g.fa` and a copy `model` of the bundle, to spoil."""
    folder.mkdir()
    write_synthetic_genome(folder / "g.fa", {"chr1": 1_500}, seed=1)
    shutil.copytree(bundle_dir, folder / "model")
    return folder


def manifest(change: Callable[[dict[str, Any]], Any], bundle: str = "model") -> Callable[[Path], None]:
    """Spoil ``ensemble.json`` (json.dumps writes float('nan') as NaN, as a hand edit would)."""

    def spoil(folder: Path) -> None:
        path = folder / bundle / MANIFEST
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    return spoil


def tensor(file: str, name: str, value: float) -> Callable[[Path], None]:
    """Set the first number of one tensor of a safetensors file."""

    def spoil(folder: Path) -> None:
        state = load_file(folder / "model" / file)
        state[name] = state[name].clone()
        state[name].view(-1)[0] = value
        save_file(state, folder / "model" / file)

    return spoil


def replace(file: str, content: Callable[[Path], bytes | None] | bytes) -> Callable[[Path], None]:
    """Replace a file's bytes (``content`` may read the old bytes); None removes it."""

    def spoil(folder: Path) -> None:
        path = folder / "model" / file
        data = content(path) if callable(content) else content
        path.unlink()
        if data is not None:
            path.write_bytes(data)

    return spoil


def link(file: str, target: str) -> Callable[[Path], None]:
    """Make ``file`` of the bundle a symlink to ``target`` (relative to the bundle folder)."""

    def spoil(folder: Path) -> None:
        path = folder / "model" / file
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        os.symlink(target, path)

    return spoil


def both(*changes: Callable[[Path], None]) -> Callable[[Path], None]:
    def spoil(folder: Path) -> None:
        for change in changes:
            change(folder)

    return spoil


def loop_bundle(folder: Path) -> None:
    shutil.rmtree(folder / "model")
    os.symlink("model", folder / "model")


def outside_link(folder: Path) -> None:
    shutil.copy(folder / "model" / "k4.safetensors", folder / "shared.safetensors")
    link("k4.safetensors", str(folder / "shared.safetensors"))(folder)


NAN, INF = math.nan, math.inf


def row(name: str, spoil: Callable[[Path], None], *words: str) -> Case:
    return Case(name, spoil, [], ("model", *words))


ROWS = (
    # 1. Numbers that are not finite, wherever they are.
    row("member weights NaN", tensor("k3.safetensors", "encoder.layers.0.attention.query.weight", NAN),
        "k3.safetensors", "encoder.layers.0.attention.query.weight", "NaN or infinite"),
    row("member weights infinite", tensor("k4.safetensors", "head_out.bias", -INF), "k4.safetensors", "head_out.bias",
        "NaN or infinite"),
    row("layer 2 weights NaN", tensor("layer2/k5.safetensors", "encoder.embeddings.word.weight", NAN), "layer2",
        "k5.safetensors", "encoder.embeddings.word.weight"),
    row("first stage weights NaN", tensor("cascade.safetensors", "weights", NAN), "cascade.safetensors", "weights"),
    row("calibration scores infinite", tensor("calibration.safetensors", "scores", INF), "calibration.safetensors",
        "scores"),
    row("ensemble weight NaN", manifest(lambda m: m["members"][1].update(weight=NAN)), "ensemble.json",
        "members[1].weight", "finite number"),
    row("ensemble weight Infinity", manifest(lambda m: m["members"][0].update(weight=INF)), "members[0].weight"),
    row("threshold NaN", manifest(lambda m: m.update(threshold=NAN)), "threshold", "finite number"),
    row("first stage threshold NaN", manifest(lambda m: m["cascade"].update(threshold=NAN)), "cascade.threshold"),
    row("first stage bias infinite", manifest(lambda m: m["cascade"].update(bias=-INF)), "cascade.bias"),
    row("layer 2 threshold NaN", manifest(lambda m: m.update(threshold=NAN), "model/layer2"), "layer2",
        "threshold"),
    # 2. The schema of ensemble.json: types and ranges of every field.
    row("two members of one k", manifest(lambda m: m["members"][1].update(k=3)), "members[1].k", "one member per k"),
    row("member entry not an object", manifest(lambda m: m["members"].append("k5.safetensors")), "members[2]",
        "JSON object"),
    row("members not a list", manifest(lambda m: m.update(members={"k3": {}})), "members"),
    row("cascade entry a string", manifest(lambda m: m.update(cascade="cascade.safetensors")), "cascade",
        "JSON object"),
    row("cascade ks a string", manifest(lambda m: m["cascade"].update(ks="12")), "cascade.ks"),
    row("cascade ks not its weights'", manifest(lambda m: m["cascade"].update(ks=[1, 2, 3])), "cascade.safetensors",
        "shape"),
    row("calibration entry a list", manifest(lambda m: m.update(calibration=[])), "calibration", "JSON object"),
    row("calibration window a string", manifest(lambda m: m["calibration"]["source"].update(window="200")),
        "calibration.source.window"),
    row("k out of range", manifest(lambda m: m["members"][0].update(k=12)), "members[0].k", "[1, 8]"),
    row("k a string", manifest(lambda m: m["members"][0].update(k="3")), "members[0].k", "whole number"),
    row("heads do not divide hidden", manifest(lambda m: m["members"][0].update(num_heads=3)), "num_heads",
        "hidden_size 32"),
    row("negative weight", manifest(lambda m: m["members"][0].update(weight=-0.5)), "members[0].weight", ">= 0"),
    row("all weights 0", manifest(lambda m: [e.update(weight=0) for e in m["members"]]), "weight 0"),
    row("threshold above 1", manifest(lambda m: m.update(threshold=1.5)), "threshold", "[0, 1]"),
    row("window longer than the positions", manifest(lambda m: m.update(window=5000)), "window 5000", "256"),
    row("layer2 not the subfolder", manifest(lambda m: m.update(layer2="../other")), "layer2"),
    row("unknown format version", manifest(lambda m: m.update(format_version=3)), "format version 3"),
    # 3. Configs and tensor shapes, checked before anything is allocated.
    row("max_positions 1e8", manifest(lambda m: m["members"][0].update(max_positions=100_000_000)),
        "members[0].max_positions", "8192"),
    row("a member of 10 billion parameters",
        manifest(lambda m: m["members"][0].update(hidden_size=4096, num_layers=48, intermediate_size=16384)),
        "members[0]", "parameters", "1,000,000,000"),
    row("config not the tensors' shape", manifest(lambda m: m["members"][1].update(hidden_size=64)),
        "k4.safetensors", "shape"),
    row("integer tensor", lambda d: save_file({**load_file(d / "model/k3.safetensors"),
                                               "head_out.bias": torch.zeros(1, dtype=torch.int64)},
                                              d / "model/k3.safetensors"), "k3.safetensors", "I64"),
    # 4. File names stay inside the bundle folder.
    row("member file with ..", manifest(lambda m: m["members"][0].update(file="../g.fa")), "members[0].file",
        "plain file name"),
    row("member file absolute", manifest(lambda m: m["members"][0].update(file="/etc/hostname")), "members[0].file"),
    row("member name with a folder", manifest(lambda m: m["members"][0].update(name="../k3")), "members[0].name"),
    row("member file a link outside", outside_link, "k4.safetensors", "outside the bundle folder"),
    row("member file a symlink loop", link("k3.safetensors", "k3.safetensors"), "k3.safetensors", "symlink loop"),
    row("layer2 a link to its bundle", link("layer2", "."), "layer2", "bundle folder itself"),
    row("bundle a symlink loop", loop_bundle, "symlink loop"),
    # 5. Earlier cases of the kind.
    row("truncated weights", replace("k4.safetensors", lambda p: p.read_bytes()[:-100]), "k4.safetensors",
        "not a readable safetensors file"),
    row("pickle renamed to a member file", lambda d: replace("k3.safetensors", pickle_trap(d / "unpickled"))(d),
        "k3.safetensors", "never loaded"),
    row("pickle .bin given as a member", both(lambda d: (d / "model/k3.bin").write_bytes(pickle_trap(d / "unpickled")),
                                              manifest(lambda m: m["members"][0].update(file="k3.bin"))),
        "k3.bin", "not a readable safetensors file"),
    row("member file missing", replace("k4.safetensors", None), "k4.safetensors", "missing"),
    row("no ensemble.json", replace(MANIFEST, None), "no ensemble.json"),
    row("ensemble.json not an object", replace(MANIFEST, b"[1, 2, 3]"), "ensemble.json", "not an ielmscan bundle"),
    row("ensemble.json not JSON", replace(MANIFEST, b"{members: k3}"), "ensemble.json", "not valid JSON"),
)


@cases(*ROWS)
def test_a_spoiled_bundle_is_refused_alike_by_model_info_and_scan(case, tmp_path, bundle_dir, capfd, monkeypatch):
    messages = {}
    for command, args in COMMANDS.items():
        folder = user_folder(tmp_path / command.replace(" ", "-"), bundle_dir)
        message = check_refusal(dataclasses.replace(case, args=args), folder, capfd, monkeypatch)
        messages[command] = message.replace(str(folder.resolve()), "FOLDER")  # a link's target is named in full
    assert messages["model info"] == messages["scan"]


def test_the_unspoiled_bundle_is_accepted_by_both(tmp_path, bundle_dir, monkeypatch):
    # The rows above fail for their spoiling alone.
    monkeypatch.chdir(user_folder(tmp_path / "user", bundle_dir))
    for args in COMMANDS.values():
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output


# A bundle with a BPE member (k3, bpe): its tokenizer file and the fields of its entry.
TOKENIZER = "bpe.tokenizer.json"


def tokenizer_json(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    """Spoil the BPE member's tokenizer file."""

    def spoil(folder: Path) -> None:
        path = folder / "model" / TOKENIZER
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    return spoil


def fewer_tokens(data: dict[str, Any]) -> None:
    """Drop the last token and the merge that made it: a good tokenizer, one token short of the config's."""
    vocab = data["model"]["vocab"]
    last = max(vocab, key=vocab.__getitem__)
    del vocab[last]
    data["model"]["merges"] = [m for m in data["model"]["merges"] if "".join(m) != last]


def huge(folder: Path) -> None:
    with open(folder / "model" / TOKENIZER, "r+b") as f:
        f.truncate(17 * 2**20)  # sparse: costs no disk


BPE_ROWS = (
    row("tokenizer file missing", replace(TOKENIZER, None), "tokenizer file", TOKENIZER, "missing"),
    row("tokenizer file not JSON", replace(TOKENIZER, b"{vocab: A}"), TOKENIZER, "not valid JSON"),
    row("tokenizer file of 17 MB", huge, TOKENIZER, "larger than 16 MB", "not a tokenizer file"),
    row("tokenizer not BPE", tokenizer_json(lambda d: d["model"].update(type="WordPiece")), TOKENIZER,
        "not a BPE tokenizer"),
    row("special tokens moved", tokenizer_json(lambda d: d["model"]["vocab"].update({"[CLS]": 3, "[SEP]": 2})),
        TOKENIZER, "[CLS] has id 3, not 2"),
    row("token with an N", tokenizer_json(lambda d: d["model"]["vocab"].update({"ACN": len(d["model"]["vocab"])})),
        TOKENIZER, "'ACN' is not a run of A/C/G/T"),
    row("tokenizer smaller than the config", tokenizer_json(fewer_tokens), TOKENIZER, "holds 63 tokens",
        "vocab_size (and embedding) 64"),
    row("vocab_size not the embedding's", manifest(lambda m: m["members"][1].update(vocab_size=80)), "bpe.safetensors",
        "shape"),
    row("tokenizer file a link outside", both(lambda d: shutil.copy(d / "model" / TOKENIZER, d / "t.json"),
                                              link(TOKENIZER, "../t.json")), TOKENIZER, "outside the bundle folder"),
    row("tokenizer file with ..", manifest(lambda m: m["members"][1].update(tokenizer_file="../t.json")),
        "members[1].tokenizer_file", "plain file name"),
    row("unknown tokenizer kind", manifest(lambda m: m["members"][1].update(tokenizer="wordpiece")),
        "members[1].tokenizer", "'kmer', 'bpe'"),
    row("BPE member with a k", manifest(lambda m: m["members"][1].update(k=6)), "members[1].k", "bpe member"),
    row("BPE member in a version 1 manifest", manifest(lambda m: m.update(format_version=1)), "members[1].tokenizer",
        "format version 1"),
    row("window beyond the BPE positions", manifest(lambda m: m.update(window=201)), "window 201", "at most 200"),
)


@pytest.fixture(scope="module")
def bpe_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("bundle") / "bpe"
    random_bundle(directory, ks=(3,), hidden=16, bpe=64)
    return directory


@cases(*BPE_ROWS)
def test_a_spoiled_bpe_member_is_refused_alike_by_model_info_and_scan(case, tmp_path, bpe_bundle_dir, capfd,
                                                                      monkeypatch):
    test_a_spoiled_bundle_is_refused_alike_by_model_info_and_scan(case, tmp_path, bpe_bundle_dir, capfd, monkeypatch)


def test_the_unspoiled_bpe_bundle_is_accepted_by_both(tmp_path, bpe_bundle_dir, monkeypatch):
    test_the_unspoiled_bundle_is_accepted_by_both(tmp_path, bpe_bundle_dir, monkeypatch)
