"""Reconciling a sweep with the one a store holds: what changed, and whether the store can follow."""

from __future__ import annotations

from .sweepfile import Sweep


def sweep_diff(old: Sweep, new: Sweep) -> dict:
    """What changes from the store's sweep to a new one: master seed, constants, dimensions, and per grid
    key the values added and removed (and whether the old values stay a prefix, in order)."""
    out = {"seed": None, "constants": [], "dims": None, "added": {}, "removed": {}, "reordered": []}
    if old.seed != new.seed:
        out["seed"] = (old.seed, new.seed)
    for section in ("data", "rbm", "train"):
        for k in sorted(set(old.base[section]) | set(new.base[section])):
            a, b = old.base[section].get(k, "<on grid>"), new.base[section].get(k, "<on grid>")
            if a != b:
                out["constants"].append((f"{section}.{k}", a, b))
    od = [(d.name, tuple(d.keys)) for d in old.dims]
    nd = [(d.name, tuple(d.keys)) for d in new.dims]
    if od != nd:
        out["dims"] = ([n for n, _ in od], [n for n, _ in nd])
        return out
    for d_old, d_new in zip(old.dims, new.dims):
        for key in d_old.keys:
            a, b = list(d_old.values[key]), list(d_new.values[key])
            added = [v for v in b if v not in a]
            removed = [v for v in a if v not in b]
            if added:
                out["added"][key] = added
            if removed:
                out["removed"][key] = removed
            elif b[:len(a)] != a:
                out["reordered"].append(key)
    return out


def compare_sweeps(old: Sweep, new: Sweep) -> tuple[str, list[str]]:
    """("same" | "extends" | "differs", reasons). `extends`: only values appended along dimensions."""
    if old.spec_hash() == new.spec_hash():
        return "same", []
    d = sweep_diff(old, new)
    reasons = []
    if d["seed"]:
        reasons.append(f"master seed {d['seed'][0]} -> {d['seed'][1]}")
    reasons += [f"{k}: {a!r} -> {b!r}" for k, a, b in d["constants"]]
    if d["dims"]:
        reasons.append(f"grid dimensions {d['dims'][0]} -> {d['dims'][1]}")
    reasons += [f"grid {k}: values {v} removed (values may only be appended)" for k, v in d["removed"].items()]
    reasons += [f"grid {k}: values reordered (values may only be appended)" for k in d["reordered"]]
    if reasons:
        return "differs", reasons
    return "extends", []
