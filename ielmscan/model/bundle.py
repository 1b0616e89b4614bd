"""Model bundles on disk: ``ensemble.json`` plus one ``.safetensors`` file per ensemble member.

A bundle is a plain directory, so it can be inspected, copied and versioned like any other data.
Loading reads JSON and safetensors only: nothing is ever unpickled, so a bundle from an untrusted
source cannot run code.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable
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
                                     DEFAULT_WINDOW, MAX_HIDDEN, MAX_INTERMEDIATE, MAX_K, MAX_LAYERS,
                                     MAX_MANIFEST_BYTES, MAX_PARAMETERS, MAX_POSITIONS)
from ielmscan.model.network import EnhancerLM, MemberConfig, count_parameters, parameter_shapes
from ielmscan.model.validate import (MANIFEST, REQUIRED, Entry, bundle_folder, check_finite, check_tensors, inside,
                                     show, tensor_header)

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
        return longest_window([m.config for m in self.members])

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
        check_config(cfg, lambda key, problem: BundleError(f"{key or f'member k{k}'} {problem}"))
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


def longest_window(configs: list[MemberConfig]) -> int:
    """Longest window every member can take (its k-mers plus [CLS] and [SEP] fit its positions)."""
    return min(c.max_positions - 2 + c.k - 1 for c in configs)


def check_window(bundle: Bundle, window: int) -> None:
    _check_window([m.config for m in bundle.members], window)


def _check_window(configs: list[MemberConfig], window: int) -> None:
    longest = longest_window(configs)
    if window > longest:
        raise BundleError(f"window {window} does not fit the members' positions: at most {longest} bases")
    if window < max(c.k for c in configs):
        raise BundleError(f"window {window} is shorter than the largest k ({max(c.k for c in configs)})")


def bundle_files(directory: Path) -> set[str]:
    """The names a bundle folder's ``ensemble.json`` says are the bundle's: its manifest, member files, first
    stage, calibration and ``layer2``. Anything else in the folder is not the bundle's and is never removed.
    A manifest that is not a bundle's owns nothing but itself (OutputFolder keeps only plain names)."""
    data = json.loads((directory / MANIFEST).read_text())
    if not isinstance(data, dict):
        return {MANIFEST}
    members = data.get("members") if isinstance(data.get("members"), list) else []
    names = {MANIFEST, *(str(entry["file"]) for entry in members if isinstance(entry, dict) and "file" in entry)}
    if isinstance(data.get("cascade"), dict):
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
        digest.update((directory / data["cascade"].get("file", CASCADE_FILE)).read_bytes())
    if "calibration" in data:
        digest.update((directory / CALIBRATION_FILE).read_bytes())
    if "layer2" in data:
        digest.update(bundle_checksum(directory / data["layer2"]).encode())
    return digest.hexdigest()


def load_bundle(directory: str | Path) -> Bundle:
    """Read and validate a bundle; every problem is a one-line BundleError naming the bundle.

    Every command loads bundles here, so all of them accept and refuse the same ones. The checks (each
    field of ``ensemble.json``, file names, tensor headers against the configs, finite numbers) run before
    anything is allocated; docs/security.md lists them.
    """
    return _load(Path(directory), nested=False)


def _load(directory: Path, nested: bool) -> Bundle:
    bundle_folder(directory)
    if not os.path.lexists(directory / MANIFEST):
        raise BundleError(f"model bundle {directory}: no {MANIFEST} in it")
    manifest_path = inside(directory, MANIFEST, "manifest")  # a regular file, not a link out nor a FIFO
    try:
        if manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
            raise BundleError(f"model bundle {directory}: {MANIFEST} is larger than {MAX_MANIFEST_BYTES // 2**20} MB: "
                              "it is not a bundle manifest")
        data = json.loads(manifest_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise BundleError(f"model bundle {directory}: {MANIFEST} is not valid JSON ({reason})") from None
    try:
        bundle = _bundle_from_json(data, directory, nested)
        bundle.checksum = bundle_checksum(directory)
    except BundleError:
        raise
    except (KeyError, TypeError, ValueError, OSError, SafetensorError, RuntimeError) as exc:
        # Only a check missing above gets here: still one line, never a traceback.
        raise BundleError(f"model bundle {directory}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    return bundle


@dataclass
class _MemberEntry:
    """A member as ensemble.json declares it, every field checked; its network is not built yet."""

    name: str
    file: str
    weight: float
    config: MemberConfig
    shapes: dict[str, tuple[int, ...]]


# Ranges of a member's shape (ielmscan.model.defaults says why they are bounded), checked on load and in new_bundle.
CONFIG_LIMITS: dict[str, tuple[int, int]] = {
    "k": (1, MAX_K), "hidden_size": (1, MAX_HIDDEN), "num_layers": (1, MAX_LAYERS),
    "intermediate_size": (1, MAX_INTERMEDIATE), "max_positions": (3, MAX_POSITIONS), "head_hidden": (1, MAX_HIDDEN),
}
_LIMIT = " (ielmscan's limit)"


def check_config(cfg: MemberConfig, error: Callable[[str | None, str], Exception]) -> dict[str, tuple[int, ...]]:
    """Check a member's shape against ielmscan's limits before anything is allocated; return its tensors' shapes.

    ``error(field, problem)`` makes the exception, so a bundle's message can name its file and entry.
    """
    for key, (low, high) in CONFIG_LIMITS.items():
        value = getattr(cfg, key)
        if not low <= value <= high:
            raise error(key, f"is {value}: it must be in [{low}, {high}]{_LIMIT}")
    if cfg.hidden_size % cfg.num_heads:
        raise error("num_heads", f"is {cfg.num_heads}: it must divide hidden_size {cfg.hidden_size}")
    shapes = parameter_shapes(cfg)  # nothing allocated yet
    parameters = sum(math.prod(shape) for shape in shapes.values())
    if parameters > MAX_PARAMETERS:
        raise error(None, f"declares {parameters:,} parameters: ielmscan loads at most {MAX_PARAMETERS:,} per member")
    return shapes


def _member_entry(e: Entry) -> _MemberEntry:
    defaults = MemberConfig(k=1)
    sizes = {key: e.integer(key, low, high, getattr(defaults, key) if key != "k" else REQUIRED, _LIMIT)
             for key, (low, high) in CONFIG_LIMITS.items()}
    cfg = MemberConfig(
        **sizes,
        num_heads=e.integer("num_heads", 1, sizes["hidden_size"], defaults.num_heads),
        dropout=e.number("dropout", 0.0, 1.0, defaults.dropout, open_high=True),
        layer_norm_eps=e.number("layer_norm_eps", 0.0, 1.0, defaults.layer_norm_eps, open_low=True),
    )
    shapes = check_config(cfg, e.error)
    name = e.file_name("name")  # saving writes NAME.safetensors into the bundle folder
    return _MemberEntry(name, e.file_name("file"), e.number("weight", 0.0), cfg, shapes)


def _bundle_from_json(data: Any, directory: Path, nested: bool) -> Bundle:
    def bad(problem: str) -> BundleError:
        return BundleError(f"model bundle {directory}: {problem}")

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise bad(f'{MANIFEST} is not an ielmscan bundle manifest (no "format": "{FORMAT}")')
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version != FORMAT_VERSION:
        raise bad(f"format version {show(version)} is not supported (this ielmscan reads {FORMAT_VERSION}): "
                  "a newer ielmscan may read it")
    top = Entry(data, directory)
    # 1. ensemble.json, every field, before any file is opened.
    entries = top.value("members", [])
    if not isinstance(entries, list) or not entries:
        raise top.error("members", f"must be a list of at least one member, not {show(entries)} (no members listed)")
    specs = [_member_entry(Entry(entry, directory, f"members[{i}]")) for i, entry in enumerate(entries)]
    for attr in ("k", "name", "file"):
        seen: dict[Any, int] = {}
        for i, spec in enumerate(specs):
            value = spec.config.k if attr == "k" else getattr(spec, attr)
            if value in seen:
                raise top.error(f"members[{i}].{attr}", f"is {show(value)}, as is members[{seen[value]}].{attr}: "
                                + ("a bundle has one member per k" if attr == "k" else "each member needs its own"))
            seen[value] = i
    if sum(spec.weight for spec in specs) <= 0:
        raise top.error("members", "all have weight 0: at least one member's weight must be positive")
    threshold = top.number("threshold", 0.0, 1.0, 0.5)
    window = top.integer("window", 1, None, DEFAULT_WINDOW)
    try:
        _check_window([spec.config for spec in specs], window)
    except BundleError as exc:
        raise bad(f"{MANIFEST}: {exc}") from None
    provenance = top.value("provenance", None)
    if provenance is not None and not isinstance(provenance, dict):
        raise top.error("provenance", f"must be a JSON object, not {show(provenance)}")
    if top.has("layer2"):
        if nested:
            raise top.error("layer2", "is not allowed here: a layer2 bundle cannot have a layer2 of its own")
        if top.value("layer2") != LAYER2_DIR:
            raise top.error("layer2", f'must name the subfolder "{LAYER2_DIR}", not {show(top.value("layer2"))}')
    cascade, calibration = top.entry("cascade"), top.entry("calibration")
    # 2. each member file's header against the member's config, before a tensor is read.
    paths = [inside(directory, spec.file, "member file") for spec in specs]
    for spec, path in zip(specs, paths):
        check_tensors(directory, spec.file, tensor_header(directory, path), spec.shapes)
    bundle = Bundle(members=[], window=window, threshold=threshold, provenance=dict(provenance or {}), path=directory)
    # 3. the small parts, then the networks.
    if cascade is not None:
        bundle.cascade = Cascade.load(directory, cascade)
    if calibration is not None:
        bundle.calibration = Calibration.load(directory, calibration)
    for spec, path in zip(specs, paths):
        state = load_file(path)
        check_finite(f"model bundle {directory}: {spec.file}", state)
        model = EnhancerLM(spec.config)
        model.load_state_dict(state)
        bundle.members.append(Member(name=spec.name, config=spec.config, weight=spec.weight, model=model.eval()))
    if top.has("layer2"):
        bundle.layer2 = _load(inside(directory, LAYER2_DIR, "layer2 folder", folder=True), nested=True)
        if bundle.layer2.window != bundle.window:
            raise bad(f"its layer2 bundle scores {bundle.layer2.window}-bp windows, layer 1 {bundle.window}-bp: "
                      "they must be the same")
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
