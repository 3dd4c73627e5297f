"""Overrides of a sweep file: ``--set KEY=VALUE`` on the command line, ``overrides={KEY: VALUE}`` in Python.

KEY is a dotted path into the sweep file: ``name``, ``seed``, ``SECTION.FIELD`` (``train.epochs``), or a grid
entry ``grid.SECTION.FIELD`` (``grid.data.beta``; inside a zip group it is set in its group) or
``grid.zip[I].SECTION.FIELD``. VALUE is read by the project's YAML loader (``[0.5, 1.0]`` is a list,
``{linspace: [0, 1, 5]}`` a range, ``1e-3`` a float). An override replaces the key wherever the file sets it:
``--set data.beta=0.5`` fixes beta even where the grid varies it (it leaves the grid), ``--set
grid.data.beta=[0.5, 1.0]`` varies it even where ``data`` fixes it (it leaves the section).

Overrides apply before validation, and a problem they cause names the override. The effective sweep (the
file with its overrides, :func:`effective_text`) is what a store keeps and compares a rerun against.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import yaml

from .fields import MAX_SHOWN, SECTIONS, SpecError, copy_value, printable, short_repr, suggest
from .yamlio import load_text

_ZIP = re.compile(r"^grid\.zip\[(\d+)\]\.(.+)$")


def parse_assignment(text: str) -> tuple[str, Any]:
    """("KEY", value) of one ``KEY=VALUE`` (VALUE read as YAML); SpecError when it is not of that form."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SpecError([f"--set {typed(text)}: expected KEY=VALUE, e.g. --set train.epochs=50 or "
                         "--set grid.data.beta=[0.5,1.0]"])
    value = load_text(raw, f"--set {typed(text)}") if raw.strip() else None
    return key, value


def typed(text: str) -> str:
    """An argument as typed, for a message: control characters escaped (fields.printable), cut to MAX_SHOWN."""
    text = printable(text)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN - 3] + "..."


def apply_overrides(raw: Any, overrides: Mapping[str, Any], source: str) -> dict:
    """A copy of the parsed sweep file `raw` with `overrides` (KEY -> value) applied (see the module docstring);
    SpecError naming the override for a KEY that is not a path into a sweep file."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return raw  # validation says what is wrong with the file itself
    out = copy_value(raw)
    problems = []
    for key, value in overrides.items():
        try:
            _apply_one(out, key, copy_value(value))
        except ValueError as exc:
            problems.append(printable(f"{source}: --set {typed(str(key))}={shown(value)}: {exc}"))
    if problems:
        raise SpecError(problems)
    return out


def _grid(out: dict) -> dict:
    grid = out.get("grid")
    if grid is None:
        grid = out["grid"] = {}
    if not isinstance(grid, dict):
        raise ValueError("the file's grid is not a mapping")
    return grid


def _zip_groups(grid: dict) -> list:
    groups = grid.get("zip", [])
    return [g for g in groups if isinstance(g, dict)] if isinstance(groups, list) else []


def _drop_from_grid(out: dict, field: str) -> None:
    """Take `field` (SECTION.FIELD) off the grid, from a zip group too (an emptied group goes)."""
    grid = out.get("grid")
    if not isinstance(grid, dict):
        return
    grid.pop(field, None)
    if isinstance(grid.get("zip"), list):
        for g in _zip_groups(grid):
            g.pop(field, None)
        grid["zip"] = [g for g in grid["zip"] if not (isinstance(g, dict) and not g)]
        if not grid["zip"]:
            del grid["zip"]


def _drop_from_section(out: dict, field: str) -> None:
    section, name = field.split(".", 1)
    if isinstance(out.get(section), dict):
        out[section].pop(name, None)


def _check_field(field: str) -> None:
    section, _, name = field.partition(".")
    if section not in SECTIONS or not name or "." in name:
        raise ValueError(f"{field!r} is not SECTION.FIELD with SECTION one of {', '.join(SECTIONS)}")
    if name not in SECTIONS[section].model_fields:
        fields = list(SECTIONS[section].model_fields)
        hint = suggest(name, fields) or f"; its fields: {', '.join(fields)}"
        raise ValueError(f"{section} has no field {name!r}{hint}")


def _apply_one(out: dict, key: str, value: Any) -> None:
    if key in ("name", "seed"):
        out[key] = value
        return
    m = _ZIP.match(key)
    if m:
        index, field = int(m.group(1)), m.group(2)
        _check_field(field)
        groups = _zip_groups(_grid(out))
        if index >= len(groups):
            raise ValueError(f"the grid has {len(groups)} zip group(s)")
        _drop_from_section(out, field)
        groups[index][field] = value
        return
    if key.startswith("grid."):
        field = key[len("grid."):]
        _check_field(field)
        grid = _grid(out)
        _drop_from_section(out, field)
        for g in _zip_groups(grid):
            if field in g:
                g[field] = value
                return
        grid[field] = value
        return
    section = key.split(".", 1)[0]
    if section not in SECTIONS:
        raise ValueError(f"unknown key {key!r}: a key is name, seed, SECTION.FIELD (SECTION: "
                         f"{', '.join(SECTIONS)}) or grid.SECTION.FIELD")
    _check_field(key)
    if out.get(section) is None:
        out[section] = {}
    if not isinstance(out[section], dict):
        raise ValueError(f"the file's {section} section is not a mapping")
    _drop_from_grid(out, key)
    out[section][key.split(".", 1)[1]] = value


def shown(value: Any) -> str:
    """A value as an override shows it: text as typed, anything else summarised."""
    return typed(value) if isinstance(value, str) else short_repr(value)


def effective_text(raw: dict, source: str, overrides: Mapping[str, Any]) -> str:
    """The YAML of the effective sweep: the file's values with the overrides applied, headed by a comment
    saying where it came from."""
    sets = " ".join(f"--set {k}={shown(v)}" for k, v in overrides.items())
    return f"# {source} with {sets}\n" + yaml.safe_dump(raw, sort_keys=False, default_flow_style=None, width=100)


def tag_messages(messages: list, overrides: Mapping[str, Any]) -> list:
    """Validation messages with the override each came from named: a message about the key an override set
    (or inside it), or, for a grid override, a message about its grid entry or zip group."""
    out = []
    for msg in messages:
        at = msg.split(": ", 2)[1] if msg.count(": ") >= 2 else ""
        for key, value in overrides.items():
            m = _ZIP.match(key)
            field = m.group(2) if m else key[len("grid."):] if key.startswith("grid.") else None
            if at == key or at.startswith((key + "[", key + ".", key + " (")) or \
                    (field is not None and at.startswith("grid") and field in msg):
                msg += f" (from --set {key}={shown(value)})"
                break
        out.append(msg)
    return out
