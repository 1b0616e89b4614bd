"""Model bundles on disk: ``ensemble.json`` plus one ``.safetensors`` file per ensemble member.

A bundle is a plain directory, so it can be inspected, copied and versioned like any other data.
Loading reads JSON and safetensors only: nothing is ever unpickled, so a bundle from an untrusted
source cannot run code.
"""
from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ielmscan import __version__
from ielmscan.model.calibration import CALIBRATION_FILE, Calibration
from ielmscan.model.cascade import CASCADE_FILE, Cascade
from ielmscan.errors import BundleError
from ielmscan.io.writers import OutputFolder
from ielmscan.model.defaults import (DEFAULT_HEADS, DEFAULT_HIDDEN, DEFAULT_LAYERS, DEFAULT_MAX_POSITIONS,
                                     DEFAULT_WINDOW, MAX_K)
from ielmscan.model.network import EnhancerLM, MemberConfig, count_parameters

MANIFEST = "ensemble.json"
LAYER2_DIR = "layer2"
FORMAT = "ielmscan-bundle"
FORMAT_VERSION = 1


@dataclass
class Member:
    """One ensemble member: its configuration, its weight in the mean, and its network."""

    name: str
    config: MemberConfig
    weight: float
    model: EnhancerLM

    @property
    def file(self) -> str:
        return f"{self.name}.safetensors"


@dataclass
class Bundle:
    members: list[Member]
    window: int = DEFAULT_WINDOW
    threshold: float = 0.5  # decision threshold on the ensemble probability
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # where it was loaded from
    checksum: str = ""  # sha256 over ensemble.json and member files, set on load/save
    # Optional second stage (the benchmark's layer 2): strong (1) vs weak (0) enhancer, applied to
    # sequences this bundle calls enhancers. Stored as a complete bundle in the subfolder "layer2".
    layer2: Bundle | None = None
    cascade: Cascade | None = None  # linear first stage for `scan --fast`
    calibration: Calibration | None = None  # background score distribution: p-values and calls on a genome

    @property
    def ks(self) -> list[int]:
        return [m.config.k for m in self.members]

    def normalised_weights(self) -> list[float]:
        total = sum(m.weight for m in self.members)
        return [m.weight / total for m in self.members]

    def folders(self) -> list[Path]:
        """The folders the bundle was read from (its own and its layer2's): the inputs an output must spare."""
        return [p for p in (self.path, *(self.layer2.folders() if self.layer2 is not None else ())) if p is not None]

    def max_window(self) -> int:
        """Longest window every member can take (its k-mers plus [CLS] and [SEP] fit its positions)."""
        return min(m.config.max_positions - 2 + m.config.k - 1 for m in self.members)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "window": self.window,
            "threshold": self.threshold,
            "members": [
                {"name": m.name, "file": m.file, "weight": m.weight, **m.config.to_dict()} for m in self.members
            ],
            "provenance": self.provenance,
            **({"layer2": LAYER2_DIR} if self.layer2 is not None else {}),
            **({"cascade": self.cascade.to_json()} if self.cascade is not None else {}),
            **({"calibration": self.calibration.to_json()} if self.calibration is not None else {}),
        }


def new_bundle(
    ks: list[int],
    hidden_size: int = DEFAULT_HIDDEN,
    num_layers: int = DEFAULT_LAYERS,
    num_heads: int = DEFAULT_HEADS,
    intermediate_size: int | None = None,
    max_positions: int = DEFAULT_MAX_POSITIONS,
    window: int = DEFAULT_WINDOW,
    seed: int = 0,
) -> Bundle:
    """A randomly initialised bundle with one member per k and equal weights."""
    if not ks:
        raise BundleError("a bundle needs at least one member (k)")
    if len(set(ks)) != len(ks):
        raise BundleError(f"duplicate k in {ks}")
    members = []
    for k in ks:
        if not 1 <= k <= MAX_K:
            raise BundleError(f"k={k} is out of range: choose k between 1 and {MAX_K}")
        cfg = MemberConfig(
            k=k,
            hidden_size=hidden_size,
            num_layers=num_layers,
            num_heads=num_heads,
            intermediate_size=intermediate_size or 4 * hidden_size,
            max_positions=max_positions,
        )
        if hidden_size % num_heads:
            raise BundleError(f"hidden size {hidden_size} is not a multiple of the {num_heads} heads")
        torch.manual_seed(seed * 1000 + k)
        members.append(Member(name=f"k{k}", config=cfg, weight=1.0, model=EnhancerLM(cfg).eval()))
    bundle = Bundle(members=members, window=window, provenance={"created_by": f"ielmscan {__version__} model init"})
    check_window(bundle, window)
    return bundle


def attach_layer2(layer1: Bundle, layer2: Bundle) -> Bundle:
    """A copy of ``layer1`` carrying ``layer2`` (strong vs weak) as its second stage."""
    if layer2.layer2 is not None:
        raise BundleError(f"bundle {layer2.path} already has a layer2 of its own: give a single-stage bundle")
    if layer2.window != layer1.window:
        raise BundleError(f"window mismatch: layer 1 scores {layer1.window}-bp windows, layer 2 {layer2.window}-bp")
    combined = copy.copy(layer1)
    combined.layer2 = layer2
    return combined


def check_window(bundle: Bundle, window: int) -> None:
    if window > bundle.max_window():
        raise BundleError(f"window {window} does not fit the members' positions: at most {bundle.max_window()} bases")
    if window < max(bundle.ks):
        raise BundleError(f"window {window} is shorter than the largest k ({max(bundle.ks)})")


def bundle_files(directory: Path) -> set[str]:
    """The names a bundle folder's ``ensemble.json`` says are the bundle's: its manifest, member files, first
    stage, calibration and ``layer2``. Anything else in the folder is not the bundle's and is never removed."""
    data = json.loads((directory / MANIFEST).read_text())
    names = {MANIFEST, *(str(entry["file"]) for entry in data.get("members", []))}
    if "cascade" in data:
        names.add(str(data["cascade"].get("file", CASCADE_FILE)))
    if "calibration" in data:
        names.add(CALIBRATION_FILE)
    if "layer2" in data:
        names.add(LAYER2_DIR)
    return names


def bundle_output(directory: str | Path, inputs: Iterable[str | Path | None] = (), force: bool = False) -> OutputFolder:
    """Where a bundle will be written, checked: never over one of ``inputs``, never into a folder that is not a
    bundle, over an earlier bundle only with ``force``. Make it early to fail before a long run."""
    return OutputFolder(directory, "model bundle", MANIFEST, inputs=inputs, force=force, owned=bundle_files)


def save_bundle(
    bundle: Bundle, directory: str | Path, inputs: Iterable[str | Path | None] = (), force: bool = False
) -> Path:
    """Write the bundle to ``directory`` atomically, all files or none (:func:`bundle_output` says where it may).

    Over an earlier bundle (with ``force``), only the earlier bundle's files are replaced or removed.
    """
    directory = Path(directory)
    with bundle_output(directory, inputs, force) as out:
        _write_files(bundle, out.staging)
    bundle.path = directory
    bundle.checksum = bundle_checksum(directory)
    if bundle.layer2 is not None:
        bundle.layer2.path = directory / LAYER2_DIR
    return directory


def _write_files(bundle: Bundle, folder: Path) -> None:
    for member in bundle.members:
        state = {name: t.detach().cpu().contiguous() for name, t in member.model.state_dict().items()}
        # One metadata key: safetensors writes several in hash order, so the file's bytes (and the
        # bundle's sha256) would change from one save of the same weights to the next.
        save_file(state, folder / member.file, metadata={"format": f"{FORMAT} member, k={member.config.k}"})
    if bundle.layer2 is not None:
        (folder / LAYER2_DIR).mkdir()
        _write_files(bundle.layer2, folder / LAYER2_DIR)
    if bundle.cascade is not None:
        bundle.cascade.save(folder)
    if bundle.calibration is not None:
        bundle.calibration.save(folder)
    (folder / MANIFEST).write_text(json.dumps(bundle.to_json(), indent=2) + "\n")


def bundle_checksum(directory: Path) -> str:
    """sha256 over ``ensemble.json`` and the member files named in it, in order."""
    digest = hashlib.sha256()
    manifest = directory / MANIFEST
    digest.update(manifest.read_bytes())
    data = json.loads(manifest.read_text())
    for entry in data["members"]:
        digest.update((directory / entry["file"]).read_bytes())
    if "cascade" in data:
        digest.update((directory / data["cascade"]["file"]).read_bytes())
    if "calibration" in data:
        digest.update((directory / CALIBRATION_FILE).read_bytes())
    if "layer2" in data:
        digest.update(bundle_checksum(directory / data["layer2"]).encode())
    return digest.hexdigest()


def load_bundle(directory: str | Path) -> Bundle:
    """Read and validate a bundle; every problem is a one-line BundleError naming the bundle."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not directory.is_dir():
        raise BundleError(f"model bundle {directory}: not a directory")
    if not manifest_path.is_file():
        raise BundleError(f"model bundle {directory}: no {MANIFEST} in it")
    try:
        data = json.loads(manifest_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"model bundle {directory}: {MANIFEST} is not valid JSON ({exc})") from None
    try:
        bundle = _bundle_from_json(data, directory)
        bundle.checksum = bundle_checksum(directory)
    except BundleError:
        raise
    except (KeyError, TypeError, ValueError, OSError, SafetensorError, RuntimeError) as exc:
        raise BundleError(f"model bundle {directory}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    return bundle


def _bundle_from_json(data: Any, directory: Path) -> Bundle:
    def bad(problem: str) -> BundleError:
        return BundleError(f"model bundle {directory}: {problem}")

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise bad(f'{MANIFEST} is not an ielmscan bundle manifest (no "format": "{FORMAT}")')
    if data.get("format_version") != FORMAT_VERSION:
        raise bad(f"format version {data.get('format_version')!r} is not supported (this ielmscan reads {FORMAT_VERSION})")
    entries = data.get("members")
    if not isinstance(entries, list) or not entries:
        raise bad("no members listed")
    members = []
    for entry in entries:
        cfg = MemberConfig.from_dict(entry)
        name, weight = str(entry["name"]), float(entry["weight"])
        if weight < 0:
            raise bad(f"member {name} has a negative weight {weight}")
        path = directory / entry["file"]
        if not path.is_file():
            raise bad(f"member file {entry['file']} is missing")
        model = EnhancerLM(cfg)
        try:
            state = load_file(path)
        except (SafetensorError, OSError) as exc:
            raise bad(f"member file {entry['file']} is not a readable safetensors file ({exc})") from None
        expected = model.state_dict()
        if set(state) != set(expected):
            missing = sorted(set(expected) - set(state))[:3]
            extra = sorted(set(state) - set(expected))[:3]
            raise bad(f"member file {entry['file']} does not match its config (missing {missing}, unexpected {extra})")
        for key, tensor in state.items():
            if tensor.shape != expected[key].shape:
                raise bad(f"member file {entry['file']}: {key} has shape {tuple(tensor.shape)}, "
                          f"config says {tuple(expected[key].shape)}")
        model.load_state_dict(state)
        members.append(Member(name=name, config=cfg, weight=weight, model=model.eval()))
    if sum(m.weight for m in members) <= 0:
        raise bad("member weights sum to zero")
    threshold = float(data.get("threshold", 0.5))
    if not 0.0 <= threshold <= 1.0:
        raise bad(f"threshold {threshold} is outside [0, 1]")
    bundle = Bundle(
        members=members,
        window=int(data.get("window", DEFAULT_WINDOW)),
        threshold=threshold,
        provenance=dict(data.get("provenance") or {}),
        path=directory,
    )
    try:
        check_window(bundle, bundle.window)
    except BundleError as exc:
        raise bad(str(exc)) from None
    if "cascade" in data:
        bundle.cascade = Cascade.load(directory, data["cascade"])
    if "calibration" in data:
        bundle.calibration = Calibration.load(directory, data["calibration"])
    if "layer2" in data:
        if data["layer2"] != LAYER2_DIR:
            raise bad(f'"layer2" must name the subfolder "{LAYER2_DIR}", not {data["layer2"]!r}')
        bundle.layer2 = load_bundle(directory / LAYER2_DIR)
        if bundle.layer2.layer2 is not None or bundle.layer2.window != bundle.window:
            raise bad("its layer2 bundle must have the same window and no layer2 of its own")
    return bundle


SHIPPED_MODELS = ("default", "ienhancer2l")  # folders of ielmscan/models


def shipped_bundle_path(name: str) -> Path | None:
    """A trained model shipped inside the package, by name (see :data:`SHIPPED_MODELS`), or None."""
    if name not in SHIPPED_MODELS:
        return None
    path = Path(str(resources.files("ielmscan") / "models" / name))
    return path if (path / MANIFEST).is_file() else None


def default_bundle_path() -> Path | None:
    """The default model shipped inside the package, or None while there is none."""
    return shipped_bundle_path("default")


def describe(bundle: Bundle) -> str:
    """Human-readable summary for ``ielmscan model info``."""
    lines = [
        f"bundle      {bundle.path}",
        f"sha256      {bundle.checksum}",
        f"window      {bundle.window} bp (longest possible: {bundle.max_window()} bp)",
        f"threshold   {bundle.threshold:.4f}",
        "members     name  k  layers  hidden  heads  ffn    positions  params     weight",
    ]
    for m, w in zip(bundle.members, bundle.normalised_weights()):
        c = m.config
        lines.append(
            f"            {m.name:<5} {c.k:<2} {c.num_layers:<7} {c.hidden_size:<7} {c.num_heads:<6} "
            f"{c.intermediate_size:<6} {c.max_positions:<10} {count_parameters(m.model):<10,} {w:.3f}"
        )
    if bundle.cascade is not None:
        cal = bundle.cascade.calibration
        lines.append(f"cascade     linear k-mer first stage (k = {','.join(map(str, bundle.cascade.ks))}), threshold "
                     f"{bundle.cascade.threshold:.3f}: {cal.get('training_recall', float('nan')):.1%} recall of the "
                     f"ensemble's calls, {cal.get('training_pass_fraction', float('nan')):.1%} pass (training data)")
    if bundle.calibration is not None:
        source = bundle.calibration.source
        lines.append(f"calibration {bundle.calibration.windows:,} background windows of {source.get('genome', '?')}; "
                     f"p <= 0.01 at score {bundle.calibration.threshold(0.01):.4f}")
    if bundle.layer2 is not None:
        lines.append(f"layer2      strong vs weak: members {', '.join(m.name for m in bundle.layer2.members)}, "
                     f"threshold {bundle.layer2.threshold:.4f} (describe with: ielmscan model info {bundle.path}/layer2)")
    for key, value in bundle.provenance.items():
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) > 100:
            text = text[:97] + "..."
        lines.append(f"provenance  {key}: {text}")
    return "\n".join(lines)
