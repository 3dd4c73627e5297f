"""The fields of a sweep file's sections: their schema, per-value validation, errors and value helpers.

Contract
- ``FIELDS`` maps every dotted key (``data.beta``, ``train.batch_size``, ...) to a :class:`FieldSpec`;
  :func:`validate_value` checks one value of one field, strictly: no str -> number coercion, no bool as
  a number; ints are accepted for floats and integral floats (``1e4``) for ints; NaN and infinities are
  refused; integers other than seeds fit int64 (MAX_INT), seeds uint64 (MAX_SEED). It returns the coerced
  value and a list of ``(subpath, reason)``.
- :class:`Errors` collects ``"{file}: {key}: {reason}"`` messages; :class:`SpecError` carries them.
- :func:`resolve` applies dotted overrides to the sections; :func:`canonical_json` is the deterministic
  JSON that seeds and hashes are computed from.
- The section models (:class:`DataSpec`, :class:`RBMSpec`, :class:`TrainSpec`) define each field once (type,
  default, bounds, description): ``FIELDS`` and the JSON Schema are read from them, and they are frozen, as
  the resolved configuration of a cell (:class:`sweep.config.cellconfig.CellConfig`) is made of them. A
  sequence is a tuple in them and a list where it is read and kept as plain values (``validate_value``
  returns a list, the sections' dicts hold lists).

Used by the grid syntax (:mod:`sweep.config.gridsyntax`), the sweep file (:mod:`sweep.config.sweepfile`) and the grid
expansion (:mod:`sweep.config.grid`); it imports none of them.
"""

from __future__ import annotations

import difflib
import json
import re
import reprlib
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

MAX_SEED = 2**64 - 1
MAX_INT = 2**63 - 1
"""The largest value of an integer field other than a seed (int64; seeds are uint64, up to MAX_SEED)."""
MAX_COUPLINGS = 64
MAX_EXACT_HIDDEN = 20
EXACT_HIDDEN = ("spin", "bernoulli")

_CONFIG = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)
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
    couplings: tuple[float, ...] = Field((1.0,), min_length=1, max_length=MAX_COUPLINGS,
                                         description="coupling constants J_1..J_R (range R <= 64)")
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


NON_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010ffff]")
"""Characters PyYAML refuses in a stream (its Reader.NON_PRINTABLE): control characters, NUL, surrogates."""


def printable(text: str) -> str:
    """`text` with every non-printable character (NON_PRINTABLE, a newline too) written as an escape (``\\x00``,
    ``\\n``): a message quoting it stays one line and sends no control sequence to a terminal."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]|" + NON_PRINTABLE.pattern,
                  lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class SpecError(Exception):
    """Invalid sweep file. ``messages``: one ``"{file}: {key}: {reason}"`` string per problem."""

    def __init__(self, messages: list[str]):
        self.messages = list(messages)
        super().__init__("\n".join(self.messages))


MAX_ERRORS = 20
"""Problems a SpecError lists at most; the rest are counted in a last line."""


class Errors:
    """Collects messages ``"{source}: {key}: {reason}"`` in order, without duplicates: the first MAX_ERRORS,
    then only a count (a file with a million bad values costs a counter, not a million messages)."""

    def __init__(self, source: str):
        self.source = source
        self._messages: dict[str, None] = {}
        self.more = 0

    def add(self, key: str, reason: str) -> None:
        if len(self._messages) < MAX_ERRORS:  # printable: a key or value may hold control characters
            self._messages[printable(f"{self.source}: {key}: {reason}")] = None
        else:
            self.more += 1

    def __bool__(self) -> bool:
        return bool(self._messages)

    def raise_if_any(self) -> None:
        if self._messages:
            extra = [f"{self.source}: ... and {self.more} more problem(s) not shown"] if self.more else []
            raise SpecError(list(self._messages) + extra)


@dataclass(frozen=True)
class FieldSpec:
    """One section field: its dotted key, scalar kind, nullability and validator; `annotation`: the type of a
    value as a sweep file gives it (constraints included, None admitted when nullable), which the grid syntax's
    schema lists (sweep.config.gridsyntax.grid_value_type)."""

    key: str
    kind: str  # "int", "float", "str", "list"
    nullable: bool
    required: bool
    default: Any
    adapter: TypeAdapter
    choices: tuple[str, ...] = ()
    annotation: Any = None


def _make_field(section: str, name: str, model: type[BaseModel]) -> FieldSpec:
    f = model.model_fields[name]
    ann, nullable = f.annotation, False
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = typing.get_args(ann)
        nullable = type(None) in args
        (ann,) = [a for a in args if a is not type(None)]
    if typing.get_origin(ann) is tuple:  # a record's sequence (frozen): the YAML list it is read from is checked
        ann = list[typing.get_args(ann)[0]]
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
                     choices, Optional[ann] if nullable else ann)


FIELDS: dict[str, FieldSpec] = {
    f"{s}.{n}": _make_field(s, n, m) for s, m in SECTIONS.items() for n in m.model_fields}


MAX_SHOWN = 120
"""Characters of a value that an error message shows at most (a long list is summarised, never rendered
whole: a YAML alias bomb expands to gigabytes)."""
_SHORT = reprlib.Repr()
for _name, _limit in (("maxlevel", 3), ("maxlist", 6), ("maxtuple", 6), ("maxdict", 6), ("maxset", 6),
                      ("maxstring", 60), ("maxother", 60), ("maxlong", 40)):
    setattr(_SHORT, _name, _limit)


def short_repr(value: Any) -> str:
    """repr of `value`, summarised (at most 6 items a list, 3 levels deep) and cut to MAX_SHOWN characters."""
    text = _SHORT.repr(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN - 3] + "..."


def describe(value: Any) -> str:
    """A value as error messages show it: its kind and its summarised repr (short_repr)."""
    kind = {str: "string", bool: "boolean", list: "list", dict: "mapping", type(None): "null"}
    if type(value) in (int, float):
        return short_repr(value)
    what = kind.get(type(value), type(value).__name__)
    if isinstance(value, (list, dict)) and len(value) > 6:
        what += f" of {len(value)} items"
    return f"{what} {short_repr(value)}"


def suggest(word: Any, allowed: typing.Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for a close match of ``word`` in ``allowed``, else ``""``."""
    close = difflib.get_close_matches(str(word), list(allowed), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _reason(err: dict, info: FieldSpec) -> str:
    t, ctx, got = err["type"], err.get("ctx", {}), describe(err["input"])
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
    if t == "too_long":
        return f"must have at most {ctx['max_length']} item(s), got {got}"
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
        return None, [("", f"must not be null (expected {kind_name(info)})")]
    if info.kind == "int" and isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        out = info.adapter.validate_python(value)
    except ValidationError as e:
        return None, [(_loc(err["loc"]), _reason(err, info)) for err in e.errors()]
    if info.kind == "int" and not info.key.endswith(".seed") and isinstance(out, int) and out > MAX_INT:
        return None, [("", f"must be <= {MAX_INT} (the store holds it as a 64-bit integer), got {describe(out)}")]
    if isinstance(out, float):
        out = out + 0.0  # -0.0 -> 0.0
    elif isinstance(out, list):
        out = [x + 0.0 if isinstance(x, float) else x for x in out]
    return out, []


def kind_name(info: FieldSpec) -> str:
    if info.choices:
        return "one of " + ", ".join(repr(c) for c in info.choices)
    names = {"int": "an integer", "float": "a number", "str": "a string", "list": "a list"}
    return names[info.kind]


def resolve(base: Mapping[str, Mapping[str, Any]], overrides: Mapping[str, Any]) -> dict:
    """Nested ``{data, rbm, train}`` dict: ``base`` with dotted ``overrides`` applied (copied).

    ``train.n_chains`` null is replaced by ``train.batch_size``.
    """
    out = {s: copy_value(dict(base.get(s, {}))) for s in SECTIONS}
    for key, value in overrides.items():
        section, name = key.split(".", 1)
        out[section][name] = copy_value(value)
    if out["train"].get("n_chains", 0) is None and "batch_size" in out["train"]:
        out["train"]["n_chains"] = out["train"]["batch_size"]
    return {s: {n: out[s][n] for n in m.model_fields if n in out[s]} for s, m in SECTIONS.items()}


def copy_value(v: Any) -> Any:
    """A deep copy of plain nested values (dicts, lists; tuples become lists)."""
    if isinstance(v, dict):
        return {k: copy_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [copy_value(x) for x in v]
    return v


def format_value(v: Any) -> str:
    """Compact display of a coordinate value: strings bare, numbers by repr."""
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    return repr(v)


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
