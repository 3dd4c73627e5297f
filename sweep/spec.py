"""Sweep files: schema, validation, defaults, normalized form and hash.

Contract
--------
A sweep file is YAML with the top-level keys ``name``, ``seed``, ``data``, ``rbm``, ``train`` and
``grid`` (grid syntax: :mod:`sweep.grid`). ``parse_sweep(text, source)`` and ``load_sweep(path)``
return a validated :class:`Sweep` or raise :class:`SpecError`, whose ``.messages`` lists every
problem found (not only the first), each formatted ``"{file}: {key}: {reason}"`` where ``key`` is a
dotted path such as ``train.batch_size``, ``grid.data.beta[2]`` or, for a check that fails only in
some cells, ``train.batch_size (cell n_samples=100)`` (the cell is named by the grid coordinates the
failing check depends on).

Rules
- YAML is read with a ``yaml.SafeLoader`` subclass that also refuses duplicate mapping keys and
  reads YAML 1.2 floats such as ``1e-3`` (PyYAML's YAML 1.1 reads them as strings).
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

Normalized form and hash
- :meth:`Sweep.normalized` is a plain dict with sorted keys: ``name``, ``seed``, the three sections
  with every default filled (keys on the grid left out of them) and ``grid``, a list of dimensions
  in file order, each ``{"dim": name, "coords": [{"key", "name", "values"}...]}``, ranges expanded.
- :meth:`Sweep.spec_hash` is the sha256 hex digest of :func:`canonical_json` of that dict without
  ``name``: comments, key order and spelling (``1`` vs ``1.0`` for a float, ranges vs lists) do not
  change it; any value, the master seed or the order of grid dimensions (the store layout) does.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Mapping, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

MAX_SEED = 2**64 - 1
MAX_EXACT_HIDDEN = 20
EXACT_HIDDEN = ("spin", "bernoulli")

_CONFIG = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


class DataSpec(BaseModel):
    """``data``: the training data, exact samples of a ring model."""

    model_config = _CONFIG
    model: Literal["ising", "xy"] = Field(
        description="ising: spin visible units; xy: discretized XY ring, Potts visible units "
        "(required, in data or on the grid)")
    n_visible: int = Field(100, ge=2, description="number of spins on the ring (N)")
    beta: float = Field(1.0, ge=0, description="inverse temperature")
    n_samples: int = Field(10000, ge=1, description="number of samples drawn (train + test)")
    q: int = Field(10, ge=2, le=127, description="number of XY angles (xy only; int8 states)")
    kernel: Literal["cosine", "potts", "short_range"] = Field(
        "cosine", description="XY interaction kernel (xy only)")
    couplings: list[float] = Field([1.0], min_length=1, description="coupling constants")
    seed: Optional[Seed] = Field(
        None, description="explicit data seed; null derives it from the master seed and the data "
        "parameters")


class RBMSpec(BaseModel):
    """``rbm``: the machine."""

    model_config = _CONFIG
    hidden: Literal["spin", "bernoulli", "gaussian", "double_well"] = Field(
        "spin", description="hidden-unit type")
    n_hidden: int = Field(1, ge=1, description="number of hidden units (M)")
    fields: Literal["zero", "learned"] = Field("zero", description="visible/hidden biases")
    gamma: float = Field(1.0, gt=0, description="hidden potential: quadratic coefficient")
    theta: float = Field(0.0, description="hidden potential: shift / asymmetry")


class TrainSpec(BaseModel):
    """``train``: stochastic gradient ascent of the likelihood."""

    model_config = _CONFIG
    method: Literal["pcd", "exact", "statistics"] = Field(
        "pcd", description="pcd: PCD-k; exact: 2^M sums; statistics: no RBM, the cell records the "
        "data's spectrum statistics (top eigenvalue of the correlation matrix, Figs. 12-13)")
    pcd_steps: int = Field(20, ge=1, description="Gibbs steps per update (pcd)")
    n_chains: Optional[Annotated[int, Field(ge=1)]] = Field(
        None, description="persistent chains (pcd); null means batch_size")
    learning_rate: float = Field(0.01, gt=0, description="step size")
    batch_size: int = Field(100, ge=1, description="minibatch size (<= training samples)")
    epochs: int = Field(100, ge=0, description="passes over the training set")
    record_every: int = Field(1, ge=1, description="record the weights every k epochs")
    init_std: float = Field(0.01, ge=0, description="std of the initial weights")
    seed: Seed = Field(0, description="replica label; the training seed is derived from it")
    test_fraction: float = Field(0.0, ge=0, lt=1, description="fraction held out as test set")
    checkpoint_every: int = Field(50, ge=1, description="checkpoint every k epochs")


SECTIONS: dict[str, type[BaseModel]] = {"data": DataSpec, "rbm": RBMSpec, "train": TrainSpec}
TOP_LEVEL_KEYS = ("name", "seed", "data", "rbm", "train", "grid")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class SpecError(Exception):
    """Invalid sweep file. ``messages``: one ``"{file}: {key}: {reason}"`` string per problem."""

    def __init__(self, messages: list[str]):
        self.messages = list(messages)
        super().__init__("\n".join(self.messages))


class Errors:
    """Collects messages ``"{source}: {key}: {reason}"`` in order, without duplicates."""

    def __init__(self, source: str):
        self.source = source
        self._messages: dict[str, None] = {}

    def add(self, key: str, reason: str) -> None:
        self._messages[f"{self.source}: {key}: {reason}"] = None

    def __bool__(self) -> bool:
        return bool(self._messages)

    def raise_if_any(self) -> None:
        if self._messages:
            raise SpecError(list(self._messages))


# ---------------------------------------------------------------------------------------------
# per-field validation


@dataclass(frozen=True)
class FieldSpec:
    """One section field: its dotted key, scalar kind, nullability and validator."""

    key: str
    kind: str  # "int", "float", "str", "list"
    nullable: bool
    required: bool
    default: Any
    adapter: TypeAdapter
    choices: tuple[str, ...] = ()


def _make_field(section: str, name: str, model: type[BaseModel]) -> FieldSpec:
    f = model.model_fields[name]
    ann, nullable = f.annotation, False
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = typing.get_args(ann)
        nullable = type(None) in args
        (ann,) = [a for a in args if a is not type(None)]
    if f.metadata:
        ann = Annotated[(ann, *f.metadata)]
    base = ann
    while typing.get_origin(base) is Annotated:
        base = typing.get_args(base)[0]
    choices: tuple[str, ...] = ()
    if typing.get_origin(base) is Literal:
        kind, choices = "str", typing.get_args(base)
    elif typing.get_origin(base) is list:
        kind = "list"
    else:
        kind = {int: "int", float: "float", str: "str"}[base]
    return FieldSpec(f"{section}.{name}", kind, nullable, f.is_required(),
                     None if f.is_required() else f.get_default(call_default_factory=True),
                     TypeAdapter(ann, config=ConfigDict(strict=True, allow_inf_nan=False)),
                     choices)


FIELDS: dict[str, FieldSpec] = {
    f"{s}.{n}": _make_field(s, n, m) for s, m in SECTIONS.items() for n in m.model_fields}


def _describe(value: Any) -> str:
    kind = {str: "string", bool: "boolean", list: "list", dict: "mapping", type(None): "null"}
    if type(value) in (int, float):
        return repr(value)
    return f"{kind.get(type(value), type(value).__name__)} {value!r}"


def suggest(word: Any, allowed: typing.Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for a close match of ``word`` in ``allowed``, else ``""``."""
    close = difflib.get_close_matches(str(word), list(allowed), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _reason(err: dict, info: FieldSpec) -> str:
    t, ctx, got = err["type"], err.get("ctx", {}), _describe(err["input"])
    bounds = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
              "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}
    if t in bounds:
        op, name = bounds[t]
        bound = ctx[name]
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        extra = " (xy visible units are int8 Potts states)" if info.key == "data.q" else ""
        return f"must be {op} {bound}, got {got}{extra}"
    if t == "literal_error":
        opts = ", ".join(repr(c) for c in info.choices)
        return f"must be one of {opts}, got {got}{suggest(err['input'], info.choices)}"
    if t in ("int_type", "int_parsing", "int_from_float"):
        return f"must be an integer, got {got}"
    if t in ("float_type", "float_parsing"):
        return f"must be a number, got {got}"
    if t == "finite_number":
        return f"must be a finite number, got {got}"
    if t == "list_type":
        return f"must be a list, got {got}"
    if t == "too_short":
        return f"must have at least {ctx['min_length']} item(s), got {got}"
    return f"{err['msg']}, got {got}"


def _loc(loc: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)


def validate_value(key: str, value: Any) -> tuple[Any, list[tuple[str, str]]]:
    """Validate one value of the field ``key`` (dotted).

    Returns (coerced value, [(subpath, reason), ...]); no problems means the value is valid.
    """
    info = FIELDS[key]
    if value is None:
        if info.nullable:
            return None, []
        return None, [("", f"must not be null (expected {_kind_name(info)})")]
    if info.kind == "int" and isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        out = info.adapter.validate_python(value)
    except ValidationError as e:
        return None, [(_loc(err["loc"]), _reason(err, info)) for err in e.errors()]
    if isinstance(out, float):
        out = out + 0.0  # -0.0 -> 0.0
    elif isinstance(out, list):
        out = [x + 0.0 if isinstance(x, float) else x for x in out]
    return out, []


def _kind_name(info: FieldSpec) -> str:
    if info.choices:
        return "one of " + ", ".join(repr(c) for c in info.choices)
    names = {"int": "an integer", "float": "a number", "str": "a string", "list": "a list"}
    return names[info.kind]


# ---------------------------------------------------------------------------------------------
# cross-field checks


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


def resolve(base: Mapping[str, Mapping[str, Any]], overrides: Mapping[str, Any]) -> dict:
    """Nested ``{data, rbm, train}`` dict: ``base`` with dotted ``overrides`` applied (copied).

    ``train.n_chains`` null is replaced by ``train.batch_size``.
    """
    out = {s: _copy(dict(base.get(s, {}))) for s in SECTIONS}
    for key, value in overrides.items():
        section, name = key.split(".", 1)
        out[section][name] = _copy(value)
    if out["train"].get("n_chains", 0) is None and "batch_size" in out["train"]:
        out["train"]["n_chains"] = out["train"]["batch_size"]
    return {s: {n: out[s][n] for n in m.model_fields if n in out[s]} for s, m in SECTIONS.items()}


def _copy(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_copy(x) for x in v]
    return v


def format_value(v: Any) -> str:
    """Compact display of a coordinate value: strings bare, numbers by repr."""
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    return repr(v)


def _run_checks(base: dict, dims: list, bad: set[str], errs: Errors) -> None:
    """Run every check on every combination of the grid dimensions it depends on."""
    for check in CHECKS:
        if any(k in bad for k in check.deps):
            continue
        rel = [d for d in dims if any(k in check.deps for k in d.keys)]
        for idx in itertools.product(*(range(d.size) for d in rel)):
            over = {k: d.values[k][i] for d, i in zip(rel, idx) for k in d.keys}
            reason = check.fn(resolve(base, over))
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


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and reads YAML 1.2 floats (``1e-3``)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, typing.Hashable):
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            "while constructing a mapping", node.start_mark,
                            f"found duplicate key {key!r} (first at line {seen[key].line + 1})",
                            key_node.start_mark)
                    seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def _yaml_error(e: yaml.YAMLError, source: str) -> str:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
    problem = getattr(e, "problem", None) or str(e)
    context = getattr(e, "context", None)
    return f"{source}: {where}: YAML syntax error: {problem}" + (f" ({context})" if context else "")


# ---------------------------------------------------------------------------------------------
# the sweep


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file.

    ``base``: the fixed values of each section (``{"data": {...}, "rbm": ..., "train": ...}``)
    with defaults filled and the grid keys left out; ``dims``: the grid dimensions in file order
    (:class:`sweep.grid.Dimension`); ``source``: the file name; ``text``: the YAML text (or None).
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
                 "coords": [{"key": k, "name": n, "values": _copy(list(d.values[k]))}
                            for k, n in zip(d.keys, d.names)]} for d in self.dims]
        return _sorted({"name": self.name, "seed": self.seed, **_copy(self.base), "grid": grid})

    def spec_hash(self) -> str:
        """sha256 hex digest of the canonical JSON of ``normalized()`` without ``name``."""
        norm = self.normalized()
        del norm["name"]
        return hashlib.sha256(canonical_json(norm).encode()).hexdigest()

    def expand(self):
        """The grid of cells: :func:`sweep.grid.expand`."""
        from . import grid

        return grid.expand(self)


def _sorted(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _sorted(v[k]) for k in sorted(v)}
    if isinstance(v, (list, tuple)):
        return [_sorted(x) for x in v]
    return v


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, floats by repr (-0.0 as 0.0), tuples as lists."""

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            return float(v) + 0.0
        if hasattr(v, "item"):  # numpy scalar
            return plain(v.item())
        raise TypeError(f"cannot canonicalize {type(v).__name__} {v!r}")

    return json.dumps(plain(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file; the default ``name`` is the file stem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError([f"{path}: (file): cannot read: {e}"]) from None
    return parse_sweep(text, source=str(path))


def parse_sweep(text: str, source: str = "<string>") -> Sweep:
    """Parse and validate YAML text; ``source`` names the file in messages and the default name."""
    try:
        raw = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise SpecError([_yaml_error(e, source)]) from None
    return sweep_from_dict(raw, source=source, text=text)


def _default_name(source: str) -> str:
    if source.startswith("<"):
        return "sweep"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(source).stem).lstrip("._-")
    return stem or "sweep"


def sweep_from_dict(raw: Any, source: str = "<dict>", text: Optional[str] = None) -> Sweep:
    """Validate an already-parsed sweep (a mapping as YAML would give) into a :class:`Sweep`."""
    from . import grid as _grid

    errs = Errors(source)
    if raw is None:
        errs.add("(top level)", "the file is empty; a sweep needs at least `data: {model: ising}`")
        errs.raise_if_any()
    if not isinstance(raw, dict):
        errs.add("(top level)", f"must be a mapping with keys {', '.join(TOP_LEVEL_KEYS)}; "
                 f"got {_describe(raw)}")
        errs.raise_if_any()
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            errs.add(str(key), f"unknown key {key!r}; allowed keys: {', '.join(TOP_LEVEL_KEYS)}"
                     + suggest(key, TOP_LEVEL_KEYS))

    name = raw.get("name", _default_name(source))
    if not isinstance(name, str) or not _NAME_RE.match(name):
        errs.add("name", "must be a string of letters, digits, '.', '_' or '-' starting with a "
                 f"letter or digit, got {_describe(name)}")
    seed = raw.get("seed", 0)
    if isinstance(seed, float) and seed.is_integer():
        seed = int(seed)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        errs.add("seed", f"must be an integer in [0, 2**64), got {_describe(seed)}")

    grid = _grid.parse_grid(raw.get("grid"), errs)
    base: dict[str, dict] = {}
    for section in SECTIONS:
        base[section] = _section(section, raw.get(section), grid.where, grid.bad, errs)
    _run_checks(base, grid.dims, grid.bad, errs)
    _check_statistics_not_mixed(base, grid.dims, errs)
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
        errs.add(section, f"must be a mapping of {', '.join(allowed)}; got {_describe(raw)}")
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
            errs.add(dotted, f"missing required key ({_kind_name(info)})")
            bad.add(dotted)
        else:
            out[name] = _copy(info.default)
    return {k: out[k] for k in allowed if k in out}


# ---------------------------------------------------------------------------------------------
# JSON Schema


def json_schema() -> dict:
    """JSON Schema (draft 2020-12) of the sweep file format, grid syntax included, for editors."""
    number = {"type": "number"}
    count = {"type": "integer", "minimum": 1}
    triple = {"type": "array", "minItems": 3, "maxItems": 3}
    range_schema = {
        "type": "object",
        "description": "a range of values: exactly one of linspace [a, b, n], logspace [a, b, n] "
                       "(base-10 exponents) or arange [a, b, step] (b excluded); int: true "
                       "rounds to integers",
        "properties": {
            "linspace": {**triple, "prefixItems": [number, number, count]},
            "logspace": {**triple, "prefixItems": [number, number, count]},
            "arange": {**triple, "items": number},
            "int": {"type": "boolean"},
        },
        "additionalProperties": False,
        "oneOf": [{"required": ["linspace"]}, {"required": ["logspace"]},
                  {"required": ["arange"]}],
    }
    sections, grid_props = {}, {}
    for section, model in SECTIONS.items():
        sch = model.model_json_schema()
        sch.pop("title", None)
        sections[section] = sch
        for name, prop in sch["properties"].items():
            item = {k: v for k, v in prop.items() if k not in ("default", "title")}
            options: list = [{"type": "array", "minItems": 1, "items": item}]
            if FIELDS[f"{section}.{name}"].kind in ("int", "float"):
                options.append({"$ref": "#/$defs/Range"})
            grid_props[f"{section}.{name}"] = {"anyOf": options,
                                               "description": prop.get("description", "")}
    zip_group = {"type": "object", "minProperties": 1, "properties": grid_props,
                 "additionalProperties": False,
                 "description": "keys that vary together: one dimension named by the first key"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "RBM sweep file",
        "type": "object",
        "additionalProperties": False,
        "required": ["data"],
        "properties": {
            "name": {"type": "string", "pattern": _NAME_RE.pattern,
                     "description": "sweep name (default: the file stem)"},
            "seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED, "default": 0,
                     "description": "master seed"},
            **sections,
            "grid": {
                "type": ["object", "null"],
                "description": "dotted key -> list of values or range; zip: groups varying "
                               "together. Dimensions follow the order of the keys.",
                "properties": {**grid_props,
                               "zip": {"type": "array", "items": zip_group}},
                "additionalProperties": False,
            },
        },
        "$defs": {"Range": range_schema},
    }
