"""Sweep files: schema, validation, defaults, normalized form and hash.

Contract
--------
A sweep file is YAML with the top-level keys ``name``, ``seed``, ``data``, ``rbm``, ``train`` and
``grid`` (grid syntax: :mod:`sweep.config.gridsyntax`; fields and per-value rules: :mod:`sweep.config.fields`; the
YAML loader and its limits: :mod:`sweep.config.yamlio`). ``parse_sweep(text, source)`` and ``load_sweep(path)``
return a validated :class:`Sweep` or raise :class:`SpecError`, whose ``.messages`` lists every
problem found (not only the first), each formatted ``"{file}: {key}: {reason}"`` where ``key`` is a
dotted path such as ``train.batch_size``, ``grid.data.beta[2]`` or, for a check that fails only in
some cells, ``train.batch_size (cell n_samples=100)`` (the cell is named by the grid coordinates the
failing check depends on).

Rules
- YAML is read with a ``yaml.SafeLoader`` subclass that also refuses duplicate mapping keys and
  reads YAML 1.2 floats such as ``1e-3`` (PyYAML's YAML 1.1 reads them as strings); a file that is not
  a regular file, is over 1 MiB, holds a control character, expands to more than 5e5 nodes through its
  aliases or holds an integer literal of more than 80 characters is refused before it is validated.
- The store's epoch axis, the union of every cell's recorded epochs (multiples of ``record_every`` and
  ``epochs`` itself), holds at most MAX_RECORDS epochs (:func:`recorded_epochs`, no per-epoch set).
- A sweep may have no grid key (one cell, as :func:`sweep.run.cell.run_cell` uses it), but a store needs
  one: :func:`require_grid` refuses it where a sweep meets a store (``sweep plan``/``run``, plan_sweep).
- At most 20 problems are listed, then a count of the others.
- Types are strict: no str -> number coercion, no bool as a number; ints are accepted for floats and
  integral floats (``1e4``) for ints. NaN and infinities are refused.
- A key fixed in a section must not also be on the grid (it would be silently overridden).
- Field constraints (ranges, choices) are checked per value, the cross-field checks (:data:`CHECKS`)
  on every cell of the grid.
- Training/test split: ``n_test = floor(n_samples * test_fraction)`` (after rounding the product to
  9 decimals, so 0.3 * 1000 gives 300), ``n_train = n_samples - n_test``; see :func:`split_sizes`.
- ``data.q`` and ``data.kernel`` are only used by ``model: xy`` (visible units are then Potts states
  stored as int8, hence q <= 127); ``model: ising`` has spin visible units and ignores them.
- ``train.n_chains: null`` means ``batch_size``; resolved cell specs hold the number.

JSON Schema: :func:`json_schema` is generated from the models that define the format (:class:`SweepHead`, the
sections' models, the grid syntax's :func:`sweep.config.gridsyntax.grid_schema`), none of it written by hand.

Normalized form and hash
- :meth:`Sweep.normalized` is a plain dict with sorted keys: ``name``, ``seed``, the three sections
  with every default filled (keys on the grid left out of them) and ``grid``, a list of dimensions
  in file order, each ``{"dim": name, "coords": [{"key", "name", "values"}...]}``, ranges expanded.
- :meth:`Sweep.spec_hash` is the sha256 hex digest of :func:`canonical_json` of that dict without
  ``name``: comments, key order and spelling (``1`` vs ``1.0`` for a float, ranges vs lists) do not
  change it; any value, the master seed or the order of grid dimensions (the store layout) does.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from . import gridsyntax
from .fields import (EXACT_HIDDEN, FIELDS, MAX_EXACT_HIDDEN, MAX_SEED, SECTIONS, Errors,  # noqa: F401 - re-exported
                     SpecError, canonical_json, copy_value, describe, format_value, kind_name, resolve, suggest,
                     validate_value)
from .yamlio import load_text, read_text

TOP_LEVEL_KEYS = ("name", "seed", "data", "rbm", "train", "grid")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def split_sizes(n_samples: int, test_fraction: float) -> tuple[int, int]:
    """(n_train, n_test): n_test = floor(round(n_samples * test_fraction, 9))."""
    n_test = math.floor(round(n_samples * test_fraction, 9))
    return n_samples - n_test, n_test


def _check_batch(s: dict) -> Optional[str]:
    if s["train"]["method"] == "statistics":
        return None
    n, f, b = s["data"]["n_samples"], s["train"]["test_fraction"], s["train"]["batch_size"]
    n_train, n_test = split_sizes(n, f)
    if b > n_train:
        held = f" minus {n_test} held out by test_fraction {f!r}" if n_test else ""
        return (f"batch_size {b} is larger than the {n_train} training samples "
                f"(data.n_samples {n}{held})")
    return None


def _check_test_set(s: dict) -> Optional[str]:
    n, f = s["data"]["n_samples"], s["train"]["test_fraction"]
    if f > 0 and split_sizes(n, f)[1] == 0:
        return f"test_fraction {f!r} of {n} samples leaves an empty test set"
    return None


def _check_train_set(s: dict) -> Optional[str]:
    n, f = s["data"]["n_samples"], s["train"]["test_fraction"]
    if split_sizes(n, f)[0] < 1:
        return f"no training sample left (n_samples {n}, test_fraction {f!r})"
    return None


def _check_exact_hidden(s: dict) -> Optional[str]:
    h = s["rbm"]["hidden"]
    if s["train"]["method"] == "exact" and h not in EXACT_HIDDEN:
        return (f"hidden {h!r} cannot be trained with train.method 'exact': the exact gradient "
                f"sums over the 2^M hidden states, which needs discrete hidden units "
                f"({' or '.join(EXACT_HIDDEN)})")
    return None


def _check_exact_size(s: dict) -> Optional[str]:
    m = s["rbm"]["n_hidden"]
    if s["train"]["method"] == "exact" and m > MAX_EXACT_HIDDEN:
        return (f"n_hidden {m} is too large for train.method 'exact': it sums over 2^{m} = {2**m} "
                f"hidden states (at most n_hidden {MAX_EXACT_HIDDEN}); use method 'pcd'")
    return None


MAX_RECORDS = 100_000
"""Recorded epochs a store's epoch axis holds at most (the union over its cells): each cell's data chunk holds
its weights at every one of them."""


def recorded_epochs(pairs) -> "np.ndarray":
    """The sorted union (int64) of the epochs cells record, given their (train.epochs, train.record_every) pairs:
    every multiple of record_every from 0 to epochs, and epochs itself (kernels.train.fit). Computed per distinct
    record_every, from counts first, without a Python object per epoch; ValueError (the reason) when the union
    would exceed MAX_RECORDS."""
    top: dict = {}
    ends = set()
    for epochs, every in pairs:
        top[every] = max(top.get(every, 0), epochs)
        ends.add(epochs)
    for every, last in top.items():
        n = last // every + 1 + (last % every != 0)
        if n > MAX_RECORDS:
            raise ValueError(f"train.epochs {last} with record_every {every} records {n} epochs, more than the "
                             f"{MAX_RECORDS} a store's epoch axis holds; raise train.record_every")
    parts, total = [np.array(sorted(ends), dtype=np.int64)], len(ends)
    out = parts[0]
    for every, last in sorted(top.items()):
        parts.append(np.arange(last // every + 1, dtype=np.int64) * every)
        total += len(parts[-1])
        if total > 4 * MAX_RECORDS or every == max(top):
            out = np.unique(np.concatenate(parts))
            parts, total = [out], len(out)
            if len(out) > MAX_RECORDS:
                raise ValueError(f"the cells record {len(out) if every == max(top) else 'more than ' + str(len(out))}"
                                 f" distinct epochs in all (train.epochs and record_every on the grid), more than "
                                 f"the {MAX_RECORDS} a store's epoch axis holds; raise train.record_every")
    return out


def _check_records(base: dict, dims: list, bad: set[str], errs: Errors) -> None:
    """The store's epoch axis (the union of every cell's recorded epochs) is bounded: MAX_RECORDS."""
    keys = ("train.epochs", "train.record_every", "train.method")
    if any(k in bad for k in keys) or math.prod(d.size for d in dims) > gridsyntax.MAX_CELLS:
        return
    if base["train"].get("method") == "statistics":
        return  # statistics cells record no epoch
    rel = [d for d in dims if any(k in keys[:2] for k in d.keys)]
    pairs = set()
    for idx in itertools.product(*(range(d.size) for d in rel)):
        train = dict(base["train"])
        train.update({k.split(".", 1)[1]: d.values[k][i] for d, i in zip(rel, idx) for k in d.keys
                      if k.startswith("train.")})
        pairs.add((train["epochs"], train["record_every"]))
    try:
        recorded_epochs(pairs)
    except ValueError as exc:
        errs.add("train.record_every", str(exc))


def require_grid(sweep: "Sweep") -> None:
    """Refuse (SpecError) a sweep with no grid key: its store has one dimension per grid key. (A grid-less sweep
    is still one cell for sweep.run_cell.)"""
    if not sweep.dims:
        raise SpecError([f"{sweep.source}: grid: a sweep needs at least one key on its grid (its store has one "
                         "dimension per grid key); for a single cell give one key one value, e.g. grid: "
                         "{train.seed: [0]}"])


@dataclass(frozen=True)
class Check:
    """A cross-field rule: ``fn(resolved cell spec) -> reason or None``, reported at ``key``."""

    key: str
    deps: tuple[str, ...]
    fn: Callable[[dict], Optional[str]]


CHECKS = (
    Check("data.n_samples", ("data.n_samples", "train.test_fraction"), _check_train_set),
    Check("train.batch_size", ("data.n_samples", "train.test_fraction", "train.batch_size", "train.method"),
          _check_batch),
    Check("train.test_fraction", ("data.n_samples", "train.test_fraction"), _check_test_set),
    Check("rbm.hidden", ("train.method", "rbm.hidden"), _check_exact_hidden),
    Check("rbm.n_hidden", ("train.method", "rbm.n_hidden"), _check_exact_size),
)


def _overlay(base: dict, over: dict) -> dict:
    """The sections of `base` with dotted `over` values set (shallow: checks only read scalars)."""
    out = {s: dict(base.get(s, {})) for s in SECTIONS}
    for key, value in over.items():
        section, name = key.split(".", 1)
        out[section][name] = value
    return out


def _run_checks(base: dict, dims: list, bad: set[str], errs: Errors) -> None:
    """Run every check on every combination of the grid dimensions it depends on (none on a grid already
    refused for its size)."""
    if math.prod(d.size for d in dims) > gridsyntax.MAX_CELLS:
        return
    for check in CHECKS:
        if any(k in bad for k in check.deps):
            continue
        rel = [d for d in dims if any(k in check.deps for k in d.keys)]
        for idx in itertools.product(*(range(d.size) for d in rel)):
            over = {k: d.values[k][i] for d, i in zip(rel, idx) for k in d.keys}
            reason = check.fn(_overlay(base, over))
            if reason:
                where = ", ".join(f"{d.name}={format_value(d.values[d.keys[0]][i])}"
                                  for d, i in zip(rel, idx))
                errs.add(check.key + (f" (cell {where})" if where else ""), reason)


def _check_statistics_not_mixed(base: dict, dims: list, errs: Errors) -> None:
    """A store holds either trained RBMs or data statistics: `statistics` cannot share a grid with training."""
    for d in dims:
        if "train.method" in d.keys:
            values = set(d.values["train.method"])
            if "statistics" in values and len(values) > 1:
                errs.add("grid.train.method", "'statistics' cells (no RBM) cannot share a sweep with "
                         f"trained cells ({', '.join(sorted(values - {'statistics'}))}); use two sweeps")


# ---------------------------------------------------------------------------------------------
# YAML


# ---------------------------------------------------------------------------------------------
# the sweep


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file.

    ``base``: the fixed values of each section (``{"data": {...}, "rbm": ..., "train": ...}``)
    with defaults filled and the grid keys left out; ``dims``: the grid dimensions in file order
    (:class:`sweep.config.gridsyntax.Dimension`); ``source``: the file name; ``text``: the YAML text (or None).
    """

    name: str
    seed: int
    base: dict
    dims: tuple
    source: str = "<string>"
    text: Optional[str] = field(default=None, compare=False)

    def normalized(self) -> dict:
        """Defaults filled, ranges expanded, keys sorted (see the module docstring)."""
        grid = [{"dim": d.name,
                 "coords": [{"key": k, "name": n, "values": copy_value(list(d.values[k]))}
                            for k, n in zip(d.keys, d.names)]} for d in self.dims]
        return _sorted({"name": self.name, "seed": self.seed, **copy_value(self.base), "grid": grid})

    def spec_hash(self) -> str:
        """sha256 hex digest of the canonical JSON of ``normalized()`` without ``name``."""
        norm = self.normalized()
        del norm["name"]
        return hashlib.sha256(canonical_json(norm).encode()).hexdigest()


def _sorted(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _sorted(v[k]) for k in sorted(v)}
    if isinstance(v, (list, tuple)):
        return [_sorted(x) for x in v]
    return v


def load_sweep(path: str | Path, overrides: Optional[Mapping[str, Any]] = None) -> Sweep:
    """Read and validate a sweep file, with `overrides` (dotted key -> value, :mod:`sweep.config.overrides`) applied
    first; the default ``name`` is the file stem."""
    return parse_sweep(read_text(path), source=str(path), overrides=overrides)


def parse_sweep(text: str, source: str = "<string>", overrides: Optional[Mapping[str, Any]] = None) -> Sweep:
    """Parse and validate YAML text; ``source`` names the file in messages and the default name. With
    `overrides`, the sweep is the file with them applied, its text the effective YAML
    (:func:`sweep.config.overrides.effective_text`), and a problem an override causes names it."""
    raw = load_text(text, source)
    if not overrides:
        return sweep_from_dict(raw, source=source, text=text)
    from .overrides import apply_overrides, effective_text, tag_messages

    raw = apply_overrides(raw, overrides, source)
    try:
        return sweep_from_dict(raw, source=source, text=effective_text(raw, source, overrides))
    except SpecError as exc:
        raise SpecError(tag_messages(exc.messages, overrides)) from None


def _default_name(source: str) -> str:
    if source.startswith("<"):
        return "sweep"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(source).stem).lstrip("._-")
    return stem or "sweep"


def sweep_from_dict(raw: Any, source: str = "<dict>", text: Optional[str] = None) -> Sweep:
    """Validate an already-parsed sweep (a mapping as YAML would give) into a :class:`Sweep`."""
    errs = Errors(source)
    if raw is None:
        errs.add("(top level)", "the file is empty; a sweep needs at least `data: {model: ising}`")
        errs.raise_if_any()
    if not isinstance(raw, dict):
        errs.add("(top level)", f"must be a mapping with keys {', '.join(TOP_LEVEL_KEYS)}; "
                 f"got {describe(raw)}")
        errs.raise_if_any()
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            errs.add(str(key), f"unknown key {key!r}; allowed keys: {', '.join(TOP_LEVEL_KEYS)}"
                     + suggest(key, TOP_LEVEL_KEYS))

    name = raw.get("name", _default_name(source))
    if not isinstance(name, str) or not _NAME_RE.match(name):
        errs.add("name", "must be a string of letters, digits, '.', '_' or '-' starting with a "
                 f"letter or digit, got {describe(name)}")
    seed = raw.get("seed", 0)
    if isinstance(seed, float) and seed.is_integer():
        seed = int(seed)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        errs.add("seed", f"must be an integer in [0, 2**64), got {describe(seed)}")

    grid = gridsyntax.parse_grid(raw.get("grid"), errs)
    base: dict[str, dict] = {}
    for section in SECTIONS:
        base[section] = _section(section, raw.get(section), grid.where, grid.bad, errs)
    _run_checks(base, grid.dims, grid.bad, errs)
    _check_statistics_not_mixed(base, grid.dims, errs)
    _check_records(base, grid.dims, grid.bad, errs)
    errs.raise_if_any()
    return Sweep(name=name, seed=seed, base=base, dims=tuple(grid.dims), source=source, text=text)


def _section(section: str, raw: Any, gridded: Mapping[str, str], bad: set[str],
             errs: Errors) -> dict:
    """Validate one section; fills defaults for keys neither given nor on the grid."""
    model = SECTIONS[section]
    allowed = list(model.model_fields)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        errs.add(section, f"must be a mapping of {', '.join(allowed)}; got {describe(raw)}")
        bad.update(f"{section}.{n}" for n in allowed)
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        dotted = f"{section}.{key}"
        if key not in model.model_fields:
            errs.add(dotted, f"unknown key {key!r}; allowed keys in {section}: "
                     f"{', '.join(allowed)}" + suggest(key, allowed))
            continue
        if dotted in gridded:
            errs.add(dotted, f"is also on the grid ({gridded[dotted]}); a key is either fixed "
                     "in its section or varied on the grid, not both")
            bad.add(dotted)
            continue
        val, problems = validate_value(dotted, value)
        for sub, reason in problems:
            errs.add(dotted + sub, reason)
        if problems:
            bad.add(dotted)
        else:
            out[key] = val
    for name in allowed:
        dotted = f"{section}.{name}"
        if name in raw or dotted in gridded:
            continue
        info = FIELDS[dotted]
        if info.required:
            errs.add(dotted, f"missing required key ({kind_name(info)})")
            bad.add(dotted)
        else:
            out[name] = copy_value(info.default)
    return {k: out[k] for k in allowed if k in out}


# ---------------------------------------------------------------------------------------------
# JSON Schema


class SweepHead(BaseModel):
    """The sweep file's own keys besides its sections and grid: the JSON Schema is generated from this model
    (sweep_from_dict checks them with the same pattern and bounds, and its own messages)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(None, pattern=_NAME_RE.pattern, description="sweep name (default: the file stem)",
                      json_schema_extra=lambda schema: schema.pop("default", None))
    seed: int = Field(0, ge=0, le=MAX_SEED, description="master seed")


def json_schema() -> dict:
    """JSON Schema (draft 2020-12) of the sweep file format, grid syntax included, for editors: generated from the
    models that define it (SweepHead; the sections' DataSpec, RBMSpec, TrainSpec; the grid syntax's
    sweep.config.gridsyntax.grid_schema and its Range)."""
    head = {name: {k: v for k, v in prop.items() if k != "title"}
            for name, prop in SweepHead.model_json_schema()["properties"].items()}
    sections = {}
    for section, model in SECTIONS.items():
        sch = model.model_json_schema()
        sch.pop("title", None)
        sections[section] = sch
    grid, defs = gridsyntax.grid_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "RBM sweep file",
        "type": "object",
        "additionalProperties": False,
        "required": [name for name, model in SECTIONS.items()  # a section with a required field (data.model)
                     if any(f.is_required() for f in model.model_fields.values())],
        "properties": {**head, **sections, "grid": grid},
        "$defs": defs,
    }
