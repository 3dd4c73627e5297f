"""Grid syntax: the ``grid`` section parsed and validated into dimensions (zip groups, ranges, names).

Contract
--------
``grid`` maps dotted keys (``section.field`` of ``data``, ``rbm``, ``train``) to

- a non-empty list of values (each checked against the field, like a fixed value), or
- a range: ``{linspace: [a, b, n]}``, ``{logspace: [a, b, n]}`` (``10**linspace``) or
  ``{arange: [a, b, step]}`` (``b`` excluded, computed as ``a + k*step`` with a 1e-9 tolerance at
  ``b``, so no float drift); values are rounded to 12 significant digits. ``int: true`` rounds half
  up to integers and refuses rounding that creates duplicates. On an integer field a range must give
  integral values (or use ``int: true``). Ranges only apply to numeric fields.

and the special key ``zip``: a list of groups, each a mapping of dotted keys to equal-length lists
or ranges; a group is ONE dimension, named by its first key, the other keys being coordinates along
it. Dimensions follow the order of the keys in the file (a zip group sits where ``zip`` is).

Names: a key's coordinate name is its last component (``data.beta`` -> ``beta``), or the whole key
with dots as underscores (``data_seed``, ``train_seed``) when two grid keys share a last component
or the last component is a name the store uses itself (:data:`sweep.config.names.STORE_NAMES`: a per-cell
dimension or a variable, ``rbm.hidden`` -> ``rbm_hidden``). A coordinate name that would still be a
store name, or another coordinate's name, is refused when the sweep is validated.
Values along a dimension (the first key of a zip group) must be distinct; a key may appear once.

Seeds on the grid are coordinates of the store (int64): at most 2**63 - 1 there (2**64 - 1 in a section).

The syntax is defined once: :class:`Range` (its kinds, their arguments, ``int``) and :func:`grid_value_type` (what a
grid key takes) generate the JSON Schema (:func:`grid_schema`, :func:`sweep.config.sweepfile.json_schema`); the
parser below takes its key names from them and checks each value with its own one-line messages.

Limits that keep any file cheap to refuse: at most MAX_VALUES values per key (a longer list is refused
before its values are checked) and MAX_CELLS cells in all (checked before any cell is built).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any, Mapping, Optional, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.json_schema import SkipJsonSchema

from .fields import FIELDS, MAX_INT, SECTIONS, Errors, canonical_json, describe, format_value, kind_name, suggest, validate_value
from .names import STORE_NAMES

RESERVED = STORE_NAMES

# ---------------------------------------------------------------------------------------------
# the syntax, defined once: the parser below reads its key names, the JSON Schema is generated from it


def _absent(schema: dict) -> None:
    schema.pop("default", None)  # an absent kind is left out, never written null


Count = Annotated[int, Field(ge=1)]


class Range(BaseModel):
    """a range of values: exactly one of linspace [a, b, n], logspace [a, b, n] (base-10 exponents) or arange [a, b, step] (b excluded); int: true rounds to integers"""  # noqa: E501 - the schema's description

    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda schema: schema.update(
        oneOf=[{"required": [kind]} for kind in RANGE_KINDS]))
    linspace: Union[tuple[float, float, Count], SkipJsonSchema[None]] = Field(
        None, description="[a, b, n]: n evenly spaced values from a to b", json_schema_extra=_absent)
    logspace: Union[tuple[float, float, Count], SkipJsonSchema[None]] = Field(
        None, description="[a, b, n]: 10 ** (n evenly spaced exponents from a to b)", json_schema_extra=_absent)
    arange: Union[tuple[float, float, float], SkipJsonSchema[None]] = Field(
        None, description="[a, b, step]: a + k * step up to b, b excluded", json_schema_extra=_absent)
    round_int: bool = Field(False, alias="int", description="round the values half up to integers")


RANGE_KINDS = tuple(name for name, f in Range.model_fields.items() if f.alias is None)
"""The kinds of range (linspace, logspace, arange), exactly one per range."""
RANGE_KEYS = tuple(f.alias or name for name, f in Range.model_fields.items())
"""The keys a range mapping may hold: its kinds and ``int``."""


def grid_value_type(key: str) -> Any:
    """What the grid key `key` (dotted) takes in a sweep file: a non-empty list of the field's values, or, for a
    numeric field, a :class:`Range`."""
    info = FIELDS[key]
    values = Annotated[list[info.annotation], Field(min_length=1)]
    return Union[values, Range] if info.kind in ("int", "float") else values


def grid_schema() -> tuple[dict, dict]:
    """The JSON Schema of the ``grid`` section and its ``$defs`` (the Range), generated from grid_value_type."""
    keys, defs = {}, {}
    for key, info in FIELDS.items():
        schema = TypeAdapter(grid_value_type(key)).json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        description = SECTIONS[key.split(".")[0]].model_fields[key.split(".")[1]].description
        keys[key] = {**schema, "description": description or ""}
    group = {"type": "object", "minProperties": 1, "properties": keys, "additionalProperties": False,
             "description": "keys that vary together: one dimension named by the first key"}
    grid = {"type": ["object", "null"],
            "description": "dotted key -> list of values or range; zip: groups varying together. Dimensions "
                           "follow the order of the keys.",
            "properties": {**keys, "zip": {"type": "array", "items": group}}, "additionalProperties": False}
    return grid, defs


MAX_VALUES = 100_000
MAX_CELLS = 1_000_000
_TOO_MANY = (f"more than the {MAX_VALUES} a grid key may take; for more cells put a second key on the grid "
             f"(each dimension takes up to {MAX_VALUES} values, the grid up to {MAX_CELLS} cells)")


@dataclass(frozen=True)
class Dimension:
    """One grid dimension: ``keys[0]`` names it, ``keys[1:]`` are zip'd coordinates along it.

    ``names[i]`` is the coordinate name of ``keys[i]`` (``names[0] == name``); ``values[key]`` the
    validated values of each key, all of length ``size``.
    """

    name: str
    keys: tuple[str, ...]
    names: tuple[str, ...]
    values: dict[str, tuple]

    @property
    def size(self) -> int:
        return len(self.values[self.keys[0]])


@dataclass
class ParsedGrid:
    """Result of :func:`parse_grid`: ``where`` maps each grid key to its path in the file (even
    if invalid); ``bad`` holds keys whose values could not be used."""

    dims: list[Dimension] = field(default_factory=list)
    where: dict[str, str] = field(default_factory=dict)
    bad: set[str] = field(default_factory=set)


def parse_grid(raw: Any, errs: Errors) -> ParsedGrid:
    """Parse and validate the ``grid`` section, reporting problems to ``errs``."""
    out = ParsedGrid()
    if raw is None:
        return out
    if not isinstance(raw, dict):
        errs.add("grid", "must be a mapping of dotted keys to lists or ranges; got "
                 + describe(raw))
        return out
    groups: list[list[tuple[Any, str, Any]]] = []
    for key, value in raw.items():
        if key != "zip":
            groups.append([(key, f"grid.{key}", value)])
            continue
        if not isinstance(value, list):
            errs.add("grid.zip", f"must be a list of groups (mappings of keys to lists); got "
                     f"{describe(value)}")
            continue
        for gi, group in enumerate(value):
            path = f"grid.zip[{gi}]"
            if not isinstance(group, dict) or not group:
                errs.add(path, f"must be a non-empty mapping of dotted keys to equal-length lists; "
                         f"got {describe(group)}")
                continue
            groups.append([(k, f"{path}.{k}", v) for k, v in group.items()])

    parsed: list[tuple[list[str], dict[str, tuple]]] = []
    for group in groups:
        keys, values, ok = [], {}, True
        for key, path, value in group:
            if not _known_key(key, path, errs):
                ok = False
                continue
            if key in out.where:
                errs.add(path, f"{key} is already on the grid at {out.where[key]}")
                ok = False
                continue
            out.where[key] = path
            keys.append(key)
            vals = _values(key, path, value, errs)
            if vals is None:
                ok = False
            else:
                values[key] = vals
        if ok and len(keys) > 1:
            lengths = {k: len(v) for k, v in values.items()}
            if len(set(lengths.values())) > 1:
                where = group[0][1].rsplit(".", 2)[0] if "zip" in group[0][1] else group[0][1]
                detail = ", ".join(f"{k} has {n}" for k, n in lengths.items())
                errs.add(where, f"zip group lists have unequal lengths ({detail}); the keys of a "
                         "group vary together and need the same number of values")
                ok = False
        if ok and not _distinct(keys[0], out.where[keys[0]], values[keys[0]], errs):
            ok = False
        if ok:
            parsed.append((keys, values))
        else:
            out.bad.update(keys)

    counts = Counter(k.rsplit(".", 1)[1] for keys, _ in parsed for k in keys)
    taken: dict[str, str] = {}
    for keys, values in parsed:
        names = tuple(coord_name(k, counts) for k in keys)
        clash = False
        for key, name in zip(keys, names):
            if name in RESERVED or name in taken:
                other = f"the coordinate of {taken[name]}" if name in taken else "a name the store uses itself"
                errs.add(out.where[key], f"its coordinate name {name!r} is {other}; the store could not "
                         "hold both")
                clash = True
            taken.setdefault(name, key)
        if clash:
            out.bad.update(keys)
            continue
        out.dims.append(Dimension(names[0], tuple(keys), names, values))
    n_cells = math.prod(d.size for d in out.dims)
    if n_cells > MAX_CELLS:
        errs.add("grid", f"has {n_cells} cells, more than the {MAX_CELLS} allowed")
    return out


def coord_name(key: str, counts: Mapping[str, int]) -> str:
    """Coordinate name of a grid key given the counts of last components among all grid keys."""
    last = key.rsplit(".", 1)[1]
    if counts.get(last, 0) > 1 or last in RESERVED:
        return key.replace(".", "_")
    return last


def _known_key(key: Any, path: str, errs: Errors) -> bool:
    if isinstance(key, str) and key in FIELDS:
        return True
    section = key.split(".", 1)[0] if isinstance(key, str) else None
    if section in SECTIONS:
        names = list(SECTIONS[section].model_fields)
        errs.add(path, f"unknown grid key {key!r}; keys of {section}: "
                 + ", ".join(f"{section}.{n}" for n in names) + suggest(key, FIELDS))
    else:
        same = [k for k in FIELDS if k.rsplit(".", 1)[1] == key]
        hint = (f"; did you mean {' or '.join(repr(k) for k in same)}?" if same
                else suggest(key, FIELDS))
        errs.add(path, f"unknown grid key {key!r}; grid keys are dotted 'section.field' with "
                 f"section data, rbm or train (e.g. data.beta), or zip" + hint)
    return False


def _values(key: str, path: str, raw: Any, errs: Errors) -> Optional[tuple]:
    """Validated values of one grid key, or None after reporting problems."""
    if isinstance(raw, dict):
        raw = _range(key, path, raw, errs)
        if raw is None:
            return None
    elif not isinstance(raw, list):
        errs.add(path, f"must be a list of values or a range ({{linspace|logspace|arange: "
                 f"[...]}}); got {describe(raw)} (a fixed value belongs in the "
                 f"{key.split('.')[0]} section)")
        return None
    if len(raw) > MAX_VALUES:
        errs.add(path, f"has {len(raw)} values, more than the {MAX_VALUES} a grid key may take")
        return None
    if not raw:
        errs.add(path, "needs at least one value")
        return None
    out, ok = [], True
    for i, value in enumerate(raw):
        val, problems = validate_value(key, value)
        if not problems and isinstance(val, int) and val > MAX_INT:  # a seed: uint64 in a section, not on the grid
            problems = [("", f"must be <= {MAX_INT} on the grid (the store's coordinate is a 64-bit signed "
                             f"integer), got {val}")]
        for sub, reason in problems:
            errs.add(f"{path}[{i}]{sub}", reason)
        ok = ok and not problems
        out.append(val)
    return tuple(out) if ok else None


def _distinct(key: str, path: str, values: tuple, errs: Errors) -> bool:
    first: dict[str, int] = {}
    ok = True
    for i, v in enumerate(values):
        c = canonical_json(v)
        if c in first:
            errs.add(f"{path}[{i}]", f"duplicate value {format_value(v)} (same as {path}"
                     f"[{first[c]}]); values along a dimension must be distinct")
            ok = False
        else:
            first[c] = i
    return ok


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _range(key: str, path: str, spec: dict, errs: Errors) -> Optional[list]:
    """Expand a range mapping into a list of numbers, or None after reporting problems."""
    allowed = RANGE_KEYS
    ok = True
    for k in spec:
        if k not in allowed:
            errs.add(f"{path}.{k}", f"unknown range key {k!r}; a range is one of linspace: "
                     "[a, b, n], logspace: [a, b, n], arange: [a, b, step], optionally with "
                     "int: true" + suggest(k, allowed))
            ok = False
    kinds = [k for k in RANGE_KINDS if k in spec]
    info = FIELDS[key]
    if info.kind not in ("int", "float"):
        errs.add(path, f"a range needs a numeric key; {key} takes {kind_name(info)}")
        return None
    if len(kinds) != 1:
        if ok:
            errs.add(path, "a range needs exactly one of linspace, logspace, arange; got "
                     + (", ".join(kinds) or "none"))
        return None
    kind = kinds[0]
    rounding = spec.get("int", False)
    if not isinstance(rounding, bool):
        errs.add(f"{path}.int", f"must be true or false, got {describe(rounding)}")
        ok = False
    args = spec[kind]
    if not (isinstance(args, list) and len(args) == 3 and all(_number(a) for a in args)):
        third = "step" if kind == "arange" else "n"
        errs.add(f"{path}.{kind}", f"must be a list [a, b, {third}] of 3 finite numbers; got "
                 f"{describe(args)}")
        return None
    if not ok:
        return None
    a, b, c = args
    if kind == "arange":
        if c == 0:
            errs.add(f"{path}.arange", "step must not be 0")
            return None
        with np.errstate(over="ignore"):
            q = (b - a) / c  # inf or NaN for a step far below the span's precision
        if not math.isfinite(q) or q > MAX_VALUES + 1:  # bounded before counting, let alone building, the values
            count = "more values than a float can count" if not math.isfinite(q) else f"about {q:.3g} values"
            errs.add(f"{path}.arange", f"[{a!r}, {b!r}, {c!r}] gives {count}, {_TOO_MANY}")
            return None
        n = max(0, math.ceil(q - 1e-9 * max(1.0, abs(q))))
        if n == 0:
            errs.add(f"{path}.arange", f"[{a}, {b}, {c}] is empty (b is excluded; the step's "
                     "sign must lead from a towards b)")
            return None
    else:
        if not (float(c).is_integer() and c >= 1):
            errs.add(f"{path}.{kind}",
                     f"n (the number of values) must be an integer >= 1, got {c!r}")
            return None
        n = int(c)
    if n > MAX_VALUES:
        errs.add(f"{path}.{kind}", f"gives {n if n < 1e15 else f'{float(n):.3g}'} values, {_TOO_MANY}")
        return None
    with np.errstate(over="ignore"):
        if kind == "arange":
            x = a + np.arange(n) * c
        else:
            x = np.linspace(a, b, n)
            if kind == "logspace":
                x = 10.0 ** x
    if not np.all(np.isfinite(x)):
        errs.add(f"{path}.{kind}", "values overflow (too large for a float)")
        return None
    vals = [float(f"{v:.12g}") + 0.0 for v in x]
    if rounding:
        ints = [int(math.floor(v + 0.5)) for v in vals]
        seen: dict[int, int] = {}
        for i, v in enumerate(ints):
            if v in seen:
                errs.add(path, f"int: true rounds {vals[seen[v]]!r} and {vals[i]!r} to the same "
                         f"integer {v}; use fewer values or a wider range")
                return None
            seen[v] = i
        return ints
    if info.kind == "int":
        frac = [v for v in vals if not v.is_integer()]
        if frac:
            errs.add(path, f"{kind} gives non-integer values (e.g. {frac[0]!r}) for the integer "
                     f"key {key}; add int: true to round them")
            return None
        return [int(v) for v in vals]
    return vals
