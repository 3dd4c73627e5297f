"""Grid expansion: lists, ranges, zip, naming, cells and seed derivation."""

import hashlib
import json
import pickle
import textwrap

import pytest
from pydantic import ValidationError

from sweep.config.cellconfig import CellConfig
from sweep.config.fields import canonical_json
from sweep.config.grid import (MAX_VALUES, TRAIN_SEED_EXCLUDED, Cell, Grid, data_seed, derive_seeds,
                        expand, train_seed)
from sweep.config.sweepfile import SpecError, parse_sweep, resolve

from test_spec import EXAMPLE

HEAD = "data: {model: ising}\ntrain: {batch_size: 1}\n"


def sweep(text: str):
    return parse_sweep(textwrap.dedent(text), "g.yaml")


def grid(grid_yaml: str, head: str = HEAD) -> Grid:
    return expand(sweep(head + "grid:\n" + textwrap.indent(textwrap.dedent(grid_yaml), "  ")))


def errors(grid_yaml: str, head: str = HEAD) -> list[str]:
    with pytest.raises(SpecError) as info:
        grid(grid_yaml, head)
    return info.value.messages


def only(grid_yaml: str, **kw) -> str:
    messages = errors(grid_yaml, **kw)
    assert len(messages) == 1, messages
    return messages[0]


def cells_by_params(g: Grid) -> dict:
    return {json.dumps(c.params, sort_keys=True): (c.data_seed, c.train_seed) for c in g}


# ---------------------------------------------------------------- the contract example


def test_example_dims_coords_shape():
    g = expand(parse_sweep(EXAMPLE))
    assert g.dims == ("beta", "seed", "n_samples")
    assert g.shape == (5, 3, 3) and g.size == len(g) == 45
    assert g.coords == {"beta": [0.1, 0.3, 0.5, 0.7, 1.0], "seed": [0, 1, 2],
                        "n_samples": [100, 1000, 10000], "epochs": [3000, 300, 30]}
    assert g.coord_dims == {"beta": "beta", "seed": "seed", "n_samples": "n_samples",
                            "epochs": "n_samples"}
    assert g.coord_keys["epochs"] == "train.epochs"
    assert g.xarray_coords()["epochs"] == ("n_samples", [3000, 300, 30])


def test_example_cells():
    g = expand(parse_sweep(EXAMPLE))
    cells = list(g)
    assert len(cells) == 45 and all(isinstance(c, Cell) for c in cells)
    assert [c.index for c in cells[:4]] == [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)]
    c = g.cell((4, 2, 1))
    assert c.params == {"data.beta": 1.0, "train.seed": 2, "data.n_samples": 1000,
                        "train.epochs": 300}
    assert c.coords == {"beta": 1.0, "seed": 2, "n_samples": 1000, "epochs": 300}
    assert c.label() == "beta=1.0, seed=2, n_samples=1000, epochs=300"
    assert c.config.as_dict()["data"] == {"model": "ising", "n_visible": 100, "beta": 1.0, "n_samples": 1000,
                                          "q": 10, "kernel": "cosine", "couplings": [1.0], "seed": None}
    assert c.config.train.epochs == 300 and c.config.train.seed == 2
    assert c.config.train.n_chains == 100  # null means batch_size
    assert c.config.rbm.hidden == "spin" and c.config.data.couplings == (1.0,)
    assert g.index(beta=1.0, seed=2, n_samples=1000) == (4, 2, 1)
    with pytest.raises(IndexError):
        g.cell((5, 0, 0))
    with pytest.raises(KeyError):
        g.index(beta=0.2, seed=0, n_samples=100)
    # a cell's configuration cannot change, and its plain dict is a copy
    with pytest.raises(ValidationError):
        c.config.data.beta = 2.0
    with pytest.raises(ValidationError):
        c.config.train = c.config.train
    c.config.as_dict()["data"]["couplings"].append(2.0)
    assert c.config.as_dict()["data"]["couplings"] == [1.0]
    assert g.cell((4, 2, 1)).config == c.config and hash(g.cell((4, 2, 1)).config) == hash(c.config)


def test_the_cell_config_is_the_resolved_dict_typed():
    """CellConfig.of(resolved dict) -> as_dict() gives the dict back, with the same canonical JSON (seeds and the
    store depend on it); it pickles (Ray tasks receive cells); a dict that is no resolved cell's is refused."""
    s = parse_sweep(EXAMPLE)
    for cell in expand(s):
        spec = resolve(s.base, cell.params)
        assert cell.config.as_dict() == spec
        assert canonical_json(cell.config.as_dict()) == canonical_json(spec)
        assert derive_seeds(s.seed, cell.config.as_dict()) == (cell.data_seed, cell.train_seed)
    cell = expand(sweep("data: {model: xy, couplings: [1, 0.5]}\ngrid: {data.beta: [0.5]}")).cell((0,))
    assert cell.config.potts and not cell.config.statistics and cell.config.split_sizes() == (10000, 0)
    assert isinstance(cell.config.data.beta, float) and cell.config.data.couplings == (1.0, 0.5)
    again = pickle.loads(pickle.dumps(cell))
    assert again == cell and again.config.data.couplings == (1.0, 0.5)
    spec = cell.config.as_dict()
    for bad in ({**spec, "grid": {}}, {**spec, "data": {**spec["data"], "beta": "1"}},
                {**spec, "data": {**spec["data"], "q": 1}}, {k: v for k, v in spec.items() if k != "rbm"}):
        with pytest.raises(ValidationError):
            CellConfig.of(bad)


def test_no_grid_is_one_cell():
    g = expand(sweep("data: {model: ising}"))
    assert g.dims == () and g.shape == () and len(g) == 1
    (cell,) = list(g)
    assert cell.index == () and cell.params == {} and cell.config.data.beta == 1.0


# ---------------------------------------------------------------- lists, ranges


def test_dimension_order_follows_the_file():
    g = grid("""\
        train.seed: [0, 1]
        zip:
          - {data.beta: [0.1, 0.2], train.epochs: [5, 6]}
          - {rbm.n_hidden: [1, 2, 3]}
        data.n_visible: [10, 20]
    """)
    assert g.dims == ("seed", "beta", "n_hidden", "n_visible")
    assert g.shape == (2, 2, 3, 2)
    assert g.coord_dims["epochs"] == "beta"


def test_linspace():
    assert grid("data.beta: {linspace: [0.1, 0.5, 5]}").coords["beta"] == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert grid("data.beta: {linspace: [2, 2, 1]}").coords["beta"] == [2.0]


def test_logspace_int():
    g = grid("data.n_samples: {logspace: [2, 4, 5], int: true}")
    assert g.coords["n_samples"] == [100, 316, 1000, 3162, 10000]
    assert all(type(v) is int for v in g.coords["n_samples"])
    assert grid("data.beta: {logspace: [-2, 0, 3]}").coords["beta"] == [0.01, 0.1, 1.0]


def test_arange_without_float_drift():
    assert grid("data.beta: {arange: [0.1, 0.5, 0.1]}").coords["beta"] == [0.1, 0.2, 0.3, 0.4]
    # numpy.arange(1, 1.3, 0.1) has 4 values, the last 1.3000000000000003: b must stay excluded
    assert grid("data.beta: {arange: [1, 1.3, 0.1]}").coords["beta"] == [1.0, 1.1, 1.2]
    assert grid("data.beta: {arange: [0, 1, 0.1]}").coords["beta"] == [
        0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert grid("data.beta: {arange: [1, 0, -0.25]}").coords["beta"] == [1.0, 0.75, 0.5, 0.25]
    assert grid("train.seed: {arange: [0, 5, 2]}").coords["seed"] == [0, 2, 4]


def test_ranges_and_lists_give_identical_cells():
    a = grid("data.beta: {arange: [0.1, 0.5, 0.1]}")
    b = grid("data.beta: [0.1, 0.2, 0.3, 0.4]")
    assert cells_by_params(a) == cells_by_params(b)


def test_int_rounding_creating_duplicates_is_refused():
    assert only("data.n_samples: {logspace: [0, 1, 20], int: true}") == (
        "g.yaml: grid.data.n_samples: int: true rounds 1.0 and 1.12883789168 to the same "
        "integer 1; use fewer values or a wider range")


def test_non_integer_range_on_integer_key():
    assert only("train.epochs: {linspace: [1, 2, 3]}") == (
        "g.yaml: grid.train.epochs: linspace gives non-integer values (e.g. 1.5) for the integer "
        "key train.epochs; add int: true to round them")
    assert grid("train.epochs: {linspace: [1, 3, 3], int: true}").coords["epochs"] == [1, 2, 3]
    # 1.5 rounds half up to 2, a duplicate of 2
    assert "rounds 1.5 and 2.0 to the same integer 2" in only(
        "train.epochs: {linspace: [1, 2, 3], int: true}")


@pytest.mark.parametrize("spec, key, reason", [
    ("{range: [0, 1, 3]}", "grid.data.beta.range",
     "unknown range key 'range'; a range is one of linspace: [a, b, n], logspace: [a, b, n], "
     "arange: [a, b, step], optionally with int: true; did you mean 'arange'?"),
    ("{linspace: [0, 1, 3], arange: [0, 1, 0.5]}", "grid.data.beta",
     "a range needs exactly one of linspace, logspace, arange; got linspace, arange"),
    ("{int: true}", "grid.data.beta",
     "a range needs exactly one of linspace, logspace, arange; got none"),
    ("{linspace: [0, 1]}", "grid.data.beta.linspace",
     "must be a list [a, b, n] of 3 finite numbers; got list [0, 1]"),
    ("{linspace: [0, a, 3]}", "grid.data.beta.linspace",
     "must be a list [a, b, n] of 3 finite numbers; got list [0, 'a', 3]"),
    ("{linspace: [0, 1, 0]}", "grid.data.beta.linspace",
     "n (the number of values) must be an integer >= 1, got 0"),
    ("{logspace: [0, 1, 2.5]}", "grid.data.beta.logspace",
     "n (the number of values) must be an integer >= 1, got 2.5"),
    ("{arange: [0, 1, 0]}", "grid.data.beta.arange", "step must not be 0"),
    ("{arange: [0, 1, -0.1]}", "grid.data.beta.arange",
     "[0, 1, -0.1] is empty (b is excluded; the step's sign must lead from a towards b)"),
    ("{linspace: [0, 1, 3], int: 2}", "grid.data.beta.int", "must be true or false, got 2"),
    (f"{{linspace: [0, 1, {MAX_VALUES + 1}]}}", "grid.data.beta.linspace",
     f"gives {MAX_VALUES + 1} values, more than the {MAX_VALUES} a grid key may take; for more cells put a second "
     f"key on the grid (each dimension takes up to {MAX_VALUES} values, the grid up to 1000000 cells)"),
    ("{logspace: [0, 400, 2]}", "grid.data.beta.logspace",
     "values overflow (too large for a float)"),
])
def test_bad_range_spec(spec, key, reason):
    assert only(f"data.beta: {spec}") == f"g.yaml: {key}: {reason}"


def test_range_on_non_numeric_key():
    assert only("rbm.hidden: {linspace: [0, 1, 2]}") == (
        "g.yaml: grid.rbm.hidden: a range needs a numeric key; rbm.hidden takes one of 'spin', "
        "'bernoulli', 'gaussian', 'double_well'")


def test_range_values_are_validated():
    assert errors("data.beta: {linspace: [-1, 1, 3]}") == [
        "g.yaml: grid.data.beta[0]: must be >= 0, got -1.0"]


def test_list_values_are_validated_each():
    assert errors("data.beta: [0.1, -1, abc]") == [
        "g.yaml: grid.data.beta[1]: must be >= 0, got -1",
        "g.yaml: grid.data.beta[2]: must be a number, got string 'abc'"]


def test_scalar_and_empty_grid_values():
    assert only("data.beta: 0.5") == (
        "g.yaml: grid.data.beta: must be a list of values or a range ({linspace|logspace|arange: "
        "[...]}); got 0.5 (a fixed value belongs in the data section)")
    assert only("data.beta: []") == "g.yaml: grid.data.beta: needs at least one value"


def test_grid_not_a_mapping():
    assert only("- data.beta", ) == ("g.yaml: grid: must be a mapping of dotted keys to lists or "
                                     "ranges; got list ['data.beta']")


# ---------------------------------------------------------------- keys, duplicates, zip


def test_unknown_grid_key_with_suggestion():
    assert only("data.bta: [1]") == (
        "g.yaml: grid.data.bta: unknown grid key 'data.bta'; keys of data: data.model, "
        "data.n_visible, data.beta, data.n_samples, data.q, data.kernel, data.couplings, "
        "data.seed; did you mean 'data.beta'?")
    assert only("beta: [1]") == (
        "g.yaml: grid.beta: unknown grid key 'beta'; grid keys are dotted 'section.field' with "
        "section data, rbm or train (e.g. data.beta), or zip; did you mean 'data.beta'?")
    assert only("seed: [1]").endswith("did you mean 'data.seed' or 'train.seed'?")
    assert only("zzz: [1]").endswith("(e.g. data.beta), or zip")
    assert only("trian.seed: [1]").endswith("did you mean 'train.seed'?")


def test_duplicate_values():
    assert only("data.beta: [0.1, 0.2, 0.1]") == (
        "g.yaml: grid.data.beta[2]: duplicate value 0.1 (same as grid.data.beta[0]); values "
        "along a dimension must be distinct")
    # 1 and 1.0 are the same float value
    assert only("data.beta: [1, 1.0]").startswith("g.yaml: grid.data.beta[1]: duplicate value 1.0")
    assert only("data.beta: {linspace: [1, 1, 2]}").startswith(
        "g.yaml: grid.data.beta[1]: duplicate value 1.0")


def test_duplicate_values_allowed_along_a_zip_coordinate():
    g = grid("zip: [{data.beta: [0.1, 0.2], train.epochs: [5, 5]}]")
    assert g.coords["epochs"] == [5, 5]
    assert only("zip: [{data.beta: [0.1, 0.1], train.epochs: [5, 6]}]").startswith(
        "g.yaml: grid.zip[0].data.beta[1]: duplicate value 0.1")


def test_key_twice_on_the_grid():
    assert only("data.beta: [0.1]\nzip: [{data.beta: [0.2], train.seed: [1]}]") == (
        "g.yaml: grid.zip[0].data.beta: data.beta is already on the grid at grid.data.beta")


def test_zip_groups_of_unequal_length():
    assert only("zip:\n  - {data.n_samples: [100, 1000, 10000], train.epochs: [3000, 300]}") == (
        "g.yaml: grid.zip[0]: zip group lists have unequal lengths (data.n_samples has 3, "
        "train.epochs has 2); the keys of a group vary together and need the same number of "
        "values")


def test_zip_with_ranges():
    g = grid("zip: [{data.beta: {linspace: [0.5, 1, 3]}, train.epochs: {arange: [10, 40, 10]}}]")
    assert g.dims == ("beta",)
    assert g.coords == {"beta": [0.5, 0.75, 1.0], "epochs": [10, 20, 30]}


def test_zip_structure_errors():
    assert only("zip: {data.beta: [1]}").startswith("g.yaml: grid.zip: must be a list of groups")
    assert only("zip: [{}]").startswith("g.yaml: grid.zip[0]: must be a non-empty mapping")
    assert only("zip: [[data.beta]]").startswith("g.yaml: grid.zip[0]: must be a non-empty mapping")


# ---------------------------------------------------------------- naming


def test_dimension_name_collisions():
    g = grid("data.seed: [1, 2]\ntrain.seed: [0, 1, 2]\ndata.beta: [0.5]")
    assert g.dims == ("data_seed", "train_seed", "beta")
    g = grid("zip: [{data.seed: [1, 2], train.seed: [3, 4]}]")
    assert g.dims == ("data_seed",) and g.coord_dims == {"data_seed": "data_seed",
                                                         "train_seed": "data_seed"}


def test_reserved_store_dimension_names():
    g = grid("rbm.hidden: [spin, bernoulli]\nrbm.n_hidden: [1, 2]")
    assert g.dims == ("rbm_hidden", "n_hidden")


def test_no_coordinate_takes_a_store_name():
    """Every grid key's coordinate name differs from the store's own names (variables, per-cell dims)."""
    from collections import Counter

    from sweep.config.grid import coord_name
    from sweep.config.names import STORE_NAMES, TABLE_VARIABLES
    from sweep.config.sweepfile import FIELDS
    from sweep.store.layout import TABLE_ARRAYS

    assert tuple(TABLE_ARRAYS) == TABLE_VARIABLES
    for keys in ([k for k in FIELDS], [k for k in FIELDS if k.startswith("data.")], ["data.seed", "train.seed"]):
        counts = Counter(k.rsplit(".", 1)[1] for k in keys)
        names = [coord_name(k, counts) for k in keys]
        assert not set(names) & STORE_NAMES and len(set(names)) == len(keys), names


def test_a_coordinate_name_the_store_uses_is_refused(monkeypatch):
    import sweep.config.gridsyntax as grid_module

    monkeypatch.setattr(grid_module, "RESERVED", grid_module.RESERVED | {"beta", "data_beta"})
    msg = only("data.beta: [0.5, 1.0]")
    assert msg == ("g.yaml: grid.data.beta: its coordinate name 'data_beta' is a name the store uses itself; "
                   "the store could not hold both")


def test_list_valued_key_on_the_grid():
    g = grid("data.couplings: [[1.0], [1, 0.5]]")
    assert g.coords["couplings"] == [(1.0,), (1.0, 0.5)]
    assert [c.config.data.couplings for c in g] == [(1.0,), (1.0, 0.5)]


# ---------------------------------------------------------------- seeds


def _expected(master, stream, params):
    text = json.dumps({"master_seed": master, "stream": stream, "params": params},
                      sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def test_seed_rule_exactly():
    cell = expand(parse_sweep(EXAMPLE)).cell((1, 2, 0))
    data = {k: v for k, v in cell.config.as_dict()["data"].items() if k != "seed"}
    assert data["beta"] == 0.3
    assert cell.data_seed == _expected(1234, "data", data)
    params = json.loads(json.dumps(cell.config.as_dict()))
    for key in TRAIN_SEED_EXCLUDED:
        section, name = key.split(".")
        del params[section][name]
    assert cell.train_seed == _expected(1234, "train", params)
    assert 0 <= cell.data_seed < 2**64 and 0 <= cell.train_seed < 2**64
    assert derive_seeds(1234, cell.config.as_dict()) == (cell.data_seed, cell.train_seed)


def test_seeds_are_distinct_across_cells():
    g = expand(parse_sweep(EXAMPLE))
    assert len({c.train_seed for c in g}) == 45
    assert len({c.data_seed for c in g}) == 15  # beta x n_samples; train.seed is not data


def test_seeds_independent_of_grid_order():
    a = grid("data.beta: [0.1, 0.2]\ntrain.seed: [0, 1]\nrbm.n_hidden: [1, 3]")
    b = grid("rbm.n_hidden: [3, 1]\ntrain.seed: [1, 0]\ndata.beta: [0.2, 0.1]")
    assert a.dims != b.dims
    assert cells_by_params(a) == cells_by_params(b)


def test_seeds_survive_grid_extension():
    small = expand(parse_sweep(EXAMPLE))
    big = expand(parse_sweep(EXAMPLE.replace("[0.1, 0.3, 0.5, 0.7, 1.0]", "[0.05, 0.1, 0.3, 0.5, 0.7, "
                                             "1.0, 2.0]").replace("[0, 1, 2]", "[0, 1, 2, 3]")))
    old, new = cells_by_params(small), cells_by_params(big)
    assert len(new) == 7 * 4 * 3
    assert {k: new[k] for k in old} == old


def test_data_seed_independent_of_train_seed_and_training():
    g = grid("train.seed: [0, 1, 2]\ntrain.learning_rate: [0.1, 0.01]\nrbm.n_hidden: [1, 2]")
    assert len({c.data_seed for c in g}) == 1
    assert len({c.train_seed for c in g}) == 12


def test_data_seed_depends_on_data():
    g = grid("data.beta: [0.1, 0.2]\ndata.n_visible: [10, 20]")
    assert len({c.data_seed for c in g}) == 4


def test_explicit_data_seed_overrides():
    g = grid("data.beta: [0.1, 0.2]", head="data: {model: ising, seed: 77}\n")
    assert [c.data_seed for c in g] == [77, 77]
    assert len({c.train_seed for c in g}) == 2
    g = grid("data.seed: [5, null]")
    assert g.cell((0,)).data_seed == 5 and g.cell((1,)).data_seed != 5


def test_master_seed_changes_both_streams():
    a = expand(sweep("seed: 1\ndata: {model: ising}"))
    b = expand(sweep("seed: 2\ndata: {model: ising}"))
    (ca,), (cb,) = list(a), list(b)
    assert ca.data_seed != cb.data_seed and ca.train_seed != cb.train_seed


def test_seed_spelling_insensitive():
    one = list(expand(sweep("data: {model: ising, beta: 1}")))[0]
    other = list(expand(sweep("data: {model: ising, beta: 1.0}")))[0]
    on_grid = list(grid("data.beta: [1]", head="data: {model: ising}\n"))[0]
    assert (one.data_seed, one.train_seed) == (other.data_seed, other.train_seed)
    assert (one.data_seed, one.train_seed) == (on_grid.data_seed, on_grid.train_seed)
    # n_chains: null and n_chains equal to batch_size are the same training
    explicit = list(expand(sweep("data: {model: ising}\ntrain: {n_chains: 100}")))[0]
    assert explicit.train_seed == one.train_seed


def test_bookkeeping_keys_do_not_change_the_train_seed():
    a = list(expand(sweep("data: {model: ising}")))[0]
    b = list(expand(sweep("data: {model: ising}\n"
                          "train: {record_every: 7, checkpoint_every: 3}")))[0]
    c = list(expand(sweep("data: {model: ising}\ntrain: {epochs: 7}")))[0]
    assert a.train_seed == b.train_seed
    assert a.train_seed != c.train_seed


def test_seed_functions_on_resolved_specs():
    s = sweep("data: {model: ising}")
    spec = resolve(s.base, {"data.beta": 0.5})
    assert data_seed(0, spec["data"]) == data_seed(0, resolve(s.base, {"data.beta": 0.5})["data"])
    assert train_seed(0, spec) != train_seed(1, spec)
    # a base section with n_chains: null gives the seed of the resolved cell
    assert s.base["train"]["n_chains"] is None
    assert train_seed(0, s.base) == list(expand(s))[0].train_seed
