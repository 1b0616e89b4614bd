"""Model bundles on disk: ``ensemble.json`` plus one ``.safetensors`` file per ensemble member (and a BPE
member's ``<name>.tokenizer.json`` beside its weights).

A bundle is a plain directory, so it can be inspected, copied and versioned like any other data.
Loading reads JSON and safetensors only: nothing is ever unpickled, so a bundle from an untrusted
source cannot run code.
"""
from __future__ import annotations

import copy
import errno
import hashlib
import json
import os
import re
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
from ielmscan.io.atomic_outputs import OutputFolder
from ielmscan.io.write_errors import output_error
from ielmscan.model.defaults import (DEFAULT_HEADS, DEFAULT_HIDDEN, DEFAULT_LAYERS, DEFAULT_MAX_POSITIONS,
                                     DEFAULT_WINDOW, MAX_MANIFEST_BYTES)
from ielmscan.model.members import TOKENIZER_SUFFIX, check_config, member_entry, read_tokenizer
from ielmscan.model.network import EnhancerLM, MemberConfig, count_parameters
from ielmscan.model.tokenizers import BPE, KMER, BpeTokenizer, KmerTokenizer, MemberTokenizer
from ielmscan.model.validate import (MANIFEST, Entry, bundle_folder, check_finite, check_tensors, inside, read_json,
                                     show, tensor_header)

__all__ = ["FORMAT", "FORMAT_VERSION", "LAYER2_DIR", "MANIFEST", "Bundle", "Member", "attach_layer2", "bundle_checksum",
           "bundle_files", "bundle_output", "check_config", "check_window", "default_bundle_path", "describe",
           "load_bundle", "longest_window", "new_bundle", "save_bundle", "shipped_bundle_path"]

LAYER2_DIR = "layer2"
FORMAT = "ielmscan-bundle"
FORMAT_VERSION = 2  # the newest this ielmscan reads and writes: 2 brought BPE members
KMER_FORMAT_VERSION = 1  # what a bundle of k-mer members alone is written as, so that earlier ielmscans read it
BPE_MEMBER_NAME = "bpe"


@dataclass
class Member:
    """One ensemble member: its configuration, its weight in the mean, its network and its tokenizer."""

    name: str
    config: MemberConfig
    weight: float
    model: EnhancerLM
    tokenizer: MemberTokenizer = None  # type: ignore[assignment]  # None: made from a k-mer member's k

    def __post_init__(self) -> None:
        if self.tokenizer is None:
            if self.config.tokenizer != KMER:
                raise BundleError(f"member {self.name}: a BPE member needs its trained tokenizer")
            self.tokenizer = KmerTokenizer(self.config.k)

    @property
    def file(self) -> str:
        return f"{self.name}.safetensors"

    @property
    def tokenizer_file(self) -> str | None:
        """Where a BPE member's tokenizer is stored, beside its weights; None for a k-mer member."""
        return f"{self.name}{TOKENIZER_SUFFIX}" if self.config.tokenizer == BPE else None


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
        """The k of each k-mer member, in bundle order (BPE members have none)."""
        return [m.config.k for m in self.members if m.config.tokenizer == KMER]

    @property
    def labels(self) -> list[int | str]:
        """What each member reads, in bundle order: a k-mer member's k, a BPE member's label (``bpe4096``)."""
        return [m.config.k if m.config.tokenizer == KMER else m.config.label for m in self.members]

    def manifest_entry(self) -> dict[str, Any]:
        """How a run's manifest names the model it used: folder, sha256 and what each member reads."""
        return {"path": str(self.path), "sha256": self.checksum, "members": self.labels}

    def normalised_weights(self) -> list[float]:
        total = sum(m.weight for m in self.members)
        return [m.weight / total for m in self.members]

    def folders(self) -> list[Path]:
        """The folders the bundle was read from (its own and its layer2's): the inputs an output must spare."""
        return [p for p in (self.path, *(self.layer2.folders() if self.layer2 is not None else ())) if p is not None]

    def max_window(self) -> int:
        return longest_window([m.config for m in self.members])

    def to_json(self) -> dict[str, Any]:
        kmer_only = all(m.config.tokenizer == KMER for m in self.members)
        return {
            "format": FORMAT,
            "format_version": KMER_FORMAT_VERSION if kmer_only else FORMAT_VERSION,
            "window": self.window,
            "threshold": self.threshold,
            "members": [
                {"name": m.name, "file": m.file, "weight": m.weight, **m.config.to_dict(),
                 **({"tokenizer_file": m.tokenizer_file} if m.tokenizer_file else {})} for m in self.members
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
    bpe: BpeTokenizer | None = None,
) -> Bundle:
    """A randomly initialised bundle with one member per k, then a BPE member reading ``bpe``'s tokens; equal weights.

    The BPE member's positions are the window's most tokens (one per base, [CLS] and [SEP]), not ``max_positions``:
    rows are never longer, and positions beyond them would never be trained.
    """
    if not ks and bpe is None:
        raise BundleError("a bundle needs at least one member (a k, or a BPE tokenizer)")
    if len(set(ks)) != len(ks):
        raise BundleError(f"duplicate k in {ks}")
    shape = dict(hidden_size=hidden_size, num_layers=num_layers, num_heads=num_heads,
                 intermediate_size=intermediate_size or 4 * hidden_size)
    if hidden_size % num_heads:
        raise BundleError(f"hidden size {hidden_size} is not a multiple of the {num_heads} heads")
    configs = [MemberConfig(k=k, max_positions=max_positions, **shape) for k in ks]
    tokenizers: list[MemberTokenizer | None] = [None] * len(ks)
    if bpe is not None:
        configs.append(MemberConfig(tokenizer=BPE, vocab_size=bpe.vocab_size, max_positions=window + 2, **shape))
        tokenizers.append(bpe)
    members = []
    for cfg, tokenizer in zip(configs, tokenizers):
        name = cfg.label if cfg.tokenizer == KMER else BPE_MEMBER_NAME
        check_config(cfg, lambda key, problem: BundleError(f"{key or f'member {name}'} {problem}"))
        torch.manual_seed(seed * 1000 + cfg.k)  # a BPE member's k is 0
        members.append(Member(name=name, config=cfg, weight=1.0, model=EnhancerLM(cfg).eval(), tokenizer=tokenizer))
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
    """Longest window every member can take (its tokens plus [CLS] and [SEP] fit its positions)."""
    return min(c.longest_window() for c in configs)


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
    names = {MANIFEST, *(str(entry[key]) for entry in members if isinstance(entry, dict)
                         for key in ("file", "tokenizer_file") if key in entry)}
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
        try:
            _write_files(bundle, out.staging)
        except (OSError, SafetensorError) as exc:  # a full disk, a quota, a file-size limit
            raise output_error(f"cannot write model bundle {directory}", _os_error(exc)) from exc
    bundle.path = directory
    bundle.checksum = bundle_checksum(directory)
    if bundle.layer2 is not None:
        bundle.layer2.path = directory / LAYER2_DIR
    return directory


_SAFETENSORS_OS_ERROR = re.compile(r"\(os error ([0-9]+)\)")


def _os_error(exc: OSError | SafetensorError) -> OSError:
    """The OS error behind a failed write; safetensors says it only in its message ("... (os error 28)")."""
    if isinstance(exc, OSError):
        return exc
    found = _SAFETENSORS_OS_ERROR.search(str(exc))
    if found is None:
        return OSError(errno.EIO, str(exc))
    number = int(found[1])
    return OSError(number, os.strerror(number))


def _write_files(bundle: Bundle, folder: Path) -> None:
    for member in bundle.members:
        state = {name: t.detach().cpu().contiguous() for name, t in member.model.state_dict().items()}
        # One metadata key: safetensors writes several in hash order, so the file's bytes (and the
        # bundle's sha256) would change from one save of the same weights to the next.
        reads = f"k={member.config.k}" if member.config.tokenizer == KMER else member.config.label
        save_file(state, folder / member.file, metadata={"format": f"{FORMAT} member, {reads}"})
        if isinstance(member.tokenizer, BpeTokenizer) and member.tokenizer_file:
            (folder / member.tokenizer_file).write_text(member.tokenizer.to_json())
    if bundle.layer2 is not None:
        (folder / LAYER2_DIR).mkdir()
        _write_files(bundle.layer2, folder / LAYER2_DIR)
    if bundle.cascade is not None:
        bundle.cascade.save(folder)
    if bundle.calibration is not None:
        bundle.calibration.save(folder)
    (folder / MANIFEST).write_text(json.dumps(bundle.to_json(), indent=2) + "\n")


def bundle_checksum(directory: Path) -> str:
    """sha256 over ``ensemble.json`` and the member files named in it (weights, then any tokenizer), in order."""
    digest = hashlib.sha256()
    manifest = directory / MANIFEST
    digest.update(manifest.read_bytes())
    data = json.loads(manifest.read_text())
    for entry in data["members"]:
        digest.update((directory / entry["file"]).read_bytes())
        if "tokenizer_file" in entry:
            digest.update((directory / entry["tokenizer_file"]).read_bytes())
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
    data = read_json(directory, manifest_path, MAX_MANIFEST_BYTES, "a bundle manifest")
    try:
        bundle = _bundle_from_json(data, directory, nested)
        bundle.checksum = bundle_checksum(directory)
    except BundleError:
        raise
    except (KeyError, TypeError, ValueError, OSError, SafetensorError, RuntimeError) as exc:
        # Only a check missing above gets here: still one line, never a traceback.
        raise BundleError(f"model bundle {directory}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    return bundle


def _bundle_from_json(data: Any, directory: Path, nested: bool) -> Bundle:
    def bad(problem: str) -> BundleError:
        return BundleError(f"model bundle {directory}: {problem}")

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise bad(f'{MANIFEST} is not an ielmscan bundle manifest (no "format": "{FORMAT}")')
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or not KMER_FORMAT_VERSION <= version <= FORMAT_VERSION:
        raise bad(f"format version {show(version)} is not supported (this ielmscan reads {KMER_FORMAT_VERSION} to "
                  f"{FORMAT_VERSION}): a newer ielmscan may read it")
    top = Entry(data, directory)
    # 1. ensemble.json, every field, before any file is opened.
    entries = top.value("members", [])
    if not isinstance(entries, list) or not entries:
        raise top.error("members", f"must be a list of at least one member, not {show(entries)} (no members listed)")
    specs = [member_entry(Entry(entry, directory, f"members[{i}]"), version > KMER_FORMAT_VERSION)
             for i, entry in enumerate(entries)]
    for attr in ("k", "name", "file", "tokenizer_file"):
        seen: dict[Any, int] = {}
        for i, spec in enumerate(specs):
            value = spec.config.k if attr == "k" else getattr(spec, attr)
            if value is None or (attr == "k" and spec.config.tokenizer != KMER):
                continue
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
    tokenizers = [read_tokenizer(directory, spec.tokenizer_file, spec.config) if spec.tokenizer_file else None
                  for spec in specs]
    bundle = Bundle(members=[], window=window, threshold=threshold, provenance=dict(provenance or {}), path=directory)
    # 3. the small parts, then the networks.
    if cascade is not None:
        bundle.cascade = Cascade.load(directory, cascade)
    if calibration is not None:
        bundle.calibration = Calibration.load(directory, calibration)
    for spec, path, tokenizer in zip(specs, paths, tokenizers):
        state = load_file(path)
        check_finite(f"model bundle {directory}: {spec.file}", state)
        model = EnhancerLM(spec.config)
        model.load_state_dict(state)
        bundle.members.append(Member(name=spec.name, config=spec.config, weight=spec.weight, model=model.eval(),
                                     tokenizer=tokenizer))
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
        "members     name  tokens   layers  hidden  heads  ffn    positions  params     weight",
    ]
    for m, w in zip(bundle.members, bundle.normalised_weights()):
        c = m.config
        lines.append(
            f"            {m.name:<5} {c.label:<8} {c.num_layers:<7} {c.hidden_size:<7} {c.num_heads:<6} "
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
