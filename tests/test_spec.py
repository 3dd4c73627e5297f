"""Sweep-file validation: messages (file, key path, reason), defaults, JSON Schema, spec hash."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sweep.config.grid import expand
from sweep.config.sweepfile import (MAX_SEED, SpecError, Sweep, json_schema, load_sweep, parse_sweep,
                        split_sizes, sweep_from_dict)

EXAMPLE = """\
name: retarded-learning-small
seed: 1234                     # master seed
data: {model: ising, n_visible: 100}
rbm: {hidden: spin, n_hidden: 1, fields: zero}
train: {method: exact, learning_rate: 0.05, batch_size: 100, record_every: 10, init_std: 0.001}
grid:
  data.beta: [0.1, 0.3, 0.5, 0.7, 1.0]
  train.seed: [0, 1, 2]
  zip:
    - {data.n_samples: [100, 1000, 10000], train.epochs: [3000, 300, 30]}
"""


def errors(text: str, source: str = "s.yaml") -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_sweep(textwrap.dedent(text), source)
    assert str(info.value) == "\n".join(info.value.messages)
    return info.value.messages


def only(text: str, source: str = "s.yaml") -> str:
    messages = errors(text, source)
    assert len(messages) == 1, messages
    return messages[0]


# ---------------------------------------------------------------- the contract example, defaults


def test_example_parses(tmp_path):
    path = tmp_path / "example.yaml"
    path.write_text(EXAMPLE)
    sweep = load_sweep(path)
    assert isinstance(sweep, Sweep)
    assert sweep.name == "retarded-learning-small"
    assert sweep.seed == 1234
    assert sweep.source == str(path)
    assert sweep.text == EXAMPLE
    assert sweep.base["train"]["learning_rate"] == 0.05
    assert sweep.base["train"]["method"] == "exact"
    # keys on the grid are not in the fixed sections
    assert "beta" not in sweep.base["data"] and "seed" not in sweep.base["train"]
    assert "epochs" not in sweep.base["train"] and "n_samples" not in sweep.base["data"]
    assert [d.name for d in sweep.dims] == ["beta", "seed", "n_samples"]


def test_defaults():
    sweep = parse_sweep("data: {model: xy}")
    assert sweep.name == "sweep" and sweep.seed == 0
    assert sweep.base == {
        "data": {"model": "xy", "n_visible": 100, "beta": 1.0, "n_samples": 10000, "q": 10,
                 "kernel": "cosine", "couplings": [1.0], "seed": None},
        "rbm": {"hidden": "spin", "n_hidden": 1, "fields": "zero", "gamma": 1.0, "theta": 0.0},
        "train": {"method": "pcd", "pcd_steps": 20, "n_chains": None, "learning_rate": 0.01,
                  "batch_size": 100, "epochs": 100, "record_every": 1, "init_std": 0.01,
                  "seed": 0, "test_fraction": 0.0, "checkpoint_every": 50},
    }
    assert sweep.dims == ()
    assert isinstance(sweep.base["data"]["beta"], float)


def test_default_name_from_file_stem(tmp_path):
    path = tmp_path / "my phase diagram.yaml"
    path.write_text("data: {model: ising}\n")
    assert load_sweep(path).name == "my-phase-diagram"


def test_empty_sections_and_grid_are_allowed():
    sweep = parse_sweep("data: {model: ising}\nrbm:\ntrain: {}\ngrid:\n")
    assert sweep.base["rbm"]["hidden"] == "spin" and sweep.dims == ()


def test_ints_accepted_for_floats_and_integral_floats_for_ints():
    sweep = parse_sweep("data: {model: ising, beta: 1, n_samples: 1e4}\n"
                        "train: {learning_rate: 1e-3, init_std: 0}")
    assert sweep.base["data"]["beta"] == 1.0 and isinstance(sweep.base["data"]["beta"], float)
    assert sweep.base["data"]["n_samples"] == 10000
    assert isinstance(sweep.base["data"]["n_samples"], int)
    assert sweep.base["train"]["learning_rate"] == 0.001  # YAML 1.2 float, not the string '1e-3'


def test_split_sizes():
    assert split_sizes(1000, 0.3) == (700, 300)
    assert split_sizes(10, 0.0) == (10, 0)
    assert split_sizes(7, 0.5) == (4, 3)


# ---------------------------------------------------------------- one message per problem


def test_unknown_keys_with_suggestions():
    messages = errors("""\
        trian: {}
        data: {model: ising, bta: 0.5}
        rbm: {n_hiden: 2}
    """)
    assert messages == [
        "s.yaml: trian: unknown key 'trian'; allowed keys: name, seed, data, rbm, train, grid; "
        "did you mean 'train'?",
        "s.yaml: data.bta: unknown key 'bta'; allowed keys in data: model, n_visible, beta, "
        "n_samples, q, kernel, couplings, seed; did you mean 'beta'?",
        "s.yaml: rbm.n_hiden: unknown key 'n_hiden'; allowed keys in rbm: hidden, n_hidden, "
        "fields, gamma, theta; did you mean 'n_hidden'?",
    ]


def test_unknown_key_without_close_match_lists_allowed():
    msg = only("data: {model: ising, zzzz: 1}")
    assert msg.startswith("s.yaml: data.zzzz: unknown key 'zzzz'; allowed keys in data: model,")
    assert "did you mean" not in msg


@pytest.mark.parametrize("line, key, reason", [
    ("data: {model: ising, beta: abc}", "data.beta", "must be a number, got string 'abc'"),
    ("data: {model: ising, beta: '0.5'}", "data.beta", "must be a number, got string '0.5'"),
    ("data: {model: ising, n_samples: 10.5}", "data.n_samples", "must be an integer, got 10.5"),
    ("data: {model: ising, n_visible: true}", "data.n_visible",
     "must be an integer, got boolean True"),
    ("data: {model: ising, beta: .inf}", "data.beta", "must be a finite number, got inf"),
    ("data: {model: ising, couplings: [1, x]}", "data.couplings[1]",
     "must be a number, got string 'x'"),
    ("data: {model: ising, couplings: []}", "data.couplings",
     "must have at least 1 item(s), got list []"),
    ("data: {model: ising, couplings: 1.0}", "data.couplings", "must be a list, got 1.0"),
    ("data: {model: potts}", "data.model",
     "must be one of 'ising', 'xy', got string 'potts'"),
    ("data: {model: ising}\nrbm: {hidden: gausian}", "rbm.hidden",
     "must be one of 'spin', 'bernoulli', 'gaussian', 'double_well', got string 'gausian'; "
     "did you mean 'gaussian'?"),
    ("data: {model: ising, seed: null}\ntrain: {seed: null}", "train.seed",
     "must not be null (expected an integer)"),
])
def test_wrong_types(line, key, reason):
    assert only(line) == f"s.yaml: {key}: {reason}"


@pytest.mark.parametrize("line, key, reason", [
    ("data: {model: ising, beta: -0.5}", "data.beta", "must be >= 0, got -0.5"),
    ("data: {model: ising, n_samples: 0}", "data.n_samples", "must be >= 1, got 0"),
    ("data: {model: xy, q: 1}", "data.q",
     "must be >= 2, got 1 (xy visible units are int8 Potts states)"),
    ("data: {model: xy, q: 128}", "data.q",
     "must be <= 127, got 128 (xy visible units are int8 Potts states)"),
    ("data: {model: ising, n_visible: 1}", "data.n_visible", "must be >= 2, got 1"),
    ("data: {model: ising, seed: -3}", "data.seed", "must be >= 0, got -3"),
    ("data: {model: ising}\nrbm: {gamma: 0}", "rbm.gamma", "must be > 0, got 0"),
    ("data: {model: ising}\ntrain: {learning_rate: 0}", "train.learning_rate",
     "must be > 0, got 0"),
    ("data: {model: ising}\ntrain: {test_fraction: 1}", "train.test_fraction",
     "must be < 1, got 1"),
    ("data: {model: ising}\ntrain: {epochs: -1}", "train.epochs", "must be >= 0, got -1"),
])
def test_out_of_range(line, key, reason):
    assert only(line) == f"s.yaml: {key}: {reason}"


def test_missing_model():
    assert only("rbm: {n_hidden: 2}") == ("s.yaml: data.model: missing required key "
                                          "(one of 'ising', 'xy')")


def test_top_level_problems():
    assert only("- 1\n- 2") == ("s.yaml: (top level): must be a mapping with keys name, seed, "
                                "data, rbm, train, grid; got list [1, 2]")
    assert only("") .startswith("s.yaml: (top level): the file is empty")
    assert only("data: [1]").startswith("s.yaml: data: must be a mapping of model, n_visible,")
    assert only("data: {model: ising}\nseed: -1") == ("s.yaml: seed: must be an integer in "
                                                      "[0, 2**64), got -1")
    assert only(f"data: {{model: ising}}\nseed: {MAX_SEED + 1}").startswith("s.yaml: seed:")
    assert only("data: {model: ising}\nname: 'a b'").startswith("s.yaml: name: must be a string")


def test_all_problems_are_collected():
    messages = errors("""\
        data: {model: ising, beta: -1, n_samples: 0, q: 1}
        rbm: {hidden: spin, n_hidden: 0}
        train: {batch_size: 0, bogus: 1}
    """)
    keys = [m.split(": ")[1] for m in messages]
    assert keys == ["data.beta", "data.n_samples", "data.q", "rbm.n_hidden", "train.batch_size",
                    "train.bogus"]


def test_batch_larger_than_data():
    assert only("data: {model: ising, n_samples: 50}\ntrain: {batch_size: 64}") == (
        "s.yaml: train.batch_size: batch_size 64 is larger than the 50 training samples "
        "(data.n_samples 50)")
    assert only("data: {model: ising, n_samples: 100}\n"
                "train: {batch_size: 80, test_fraction: 0.25}") == (
        "s.yaml: train.batch_size: batch_size 80 is larger than the 75 training samples "
        "(data.n_samples 100 minus 25 held out by test_fraction 0.25)")
    parse_sweep("data: {model: ising, n_samples: 100}\n"
                "train: {batch_size: 75, test_fraction: 0.25}")


def test_batch_larger_than_data_in_some_cells_names_the_cells():
    messages = errors("""\
        data: {model: ising}
        train: {batch_size: 200}
        grid:
          data.beta: [0.1, 0.2]
          data.n_samples: [100, 150, 200, 1000]
    """)
    assert messages == [
        "s.yaml: train.batch_size (cell n_samples=100): batch_size 200 is larger than the 100 "
        "training samples (data.n_samples 100)",
        "s.yaml: train.batch_size (cell n_samples=150): batch_size 200 is larger than the 150 "
        "training samples (data.n_samples 150)",
    ]


def test_batch_check_across_two_dimensions_and_zip():
    messages = errors("""\
        data: {model: ising}
        grid:
          train.batch_size: [10, 100]
          zip:
            - {data.n_samples: [50, 500], train.epochs: [10, 1]}
    """)
    assert messages == ["s.yaml: train.batch_size (cell batch_size=100, n_samples=50): batch_size "
                        "100 is larger than the 50 training samples (data.n_samples 50)"]


def test_empty_test_set():
    assert only("data: {model: ising, n_samples: 200}\ntrain: {batch_size: 10, "
                "test_fraction: 0.001}") == (
        "s.yaml: train.test_fraction: test_fraction 0.001 of 200 samples leaves an empty test set")


def test_exact_too_many_hidden_units():
    assert only("data: {model: ising}\nrbm: {n_hidden: 21}\ntrain: {method: exact}") == (
        "s.yaml: rbm.n_hidden: n_hidden 21 is too large for train.method 'exact': it sums over "
        "2^21 = 2097152 hidden states (at most n_hidden 20); use method 'pcd'")
    parse_sweep("data: {model: ising}\nrbm: {n_hidden: 20}\ntrain: {method: exact}")
    parse_sweep("data: {model: ising}\nrbm: {n_hidden: 50}\ntrain: {method: pcd}")


def test_exact_too_many_hidden_units_on_the_grid():
    assert only("""\
        data: {model: ising}
        train: {method: exact}
        grid: {rbm.n_hidden: [1, 2, 30]}
    """).startswith("s.yaml: rbm.n_hidden (cell n_hidden=30): n_hidden 30 is too large")


@pytest.mark.parametrize("hidden", ["gaussian", "double_well"])
def test_exact_needs_discrete_hidden_units(hidden):
    assert only(f"data: {{model: ising}}\nrbm: {{hidden: {hidden}}}\ntrain: {{method: exact}}") == (
        f"s.yaml: rbm.hidden: hidden '{hidden}' cannot be trained with train.method 'exact': the "
        "exact gradient sums over the 2^M hidden states, which needs discrete hidden units "
        "(spin or bernoulli)")
    parse_sweep(f"data: {{model: ising}}\nrbm: {{hidden: {hidden}}}\ntrain: {{method: pcd}}")


def test_method_on_the_grid_is_checked_per_cell():
    assert only("""\
        data: {model: ising}
        rbm: {hidden: gaussian}
        grid: {train.method: [pcd, exact]}
    """).startswith("s.yaml: rbm.hidden (cell method=exact): hidden 'gaussian' cannot be trained")


def test_key_both_fixed_and_on_the_grid():
    assert only("data: {model: ising, beta: 0.5}\ngrid: {data.beta: [0.1, 0.2]}") == (
        "s.yaml: data.beta: is also on the grid (grid.data.beta); a key is either fixed in its "
        "section or varied on the grid, not both")


def test_model_may_be_on_the_grid():
    sweep = parse_sweep("grid: {data.model: [ising, xy]}")
    assert [c.config.data.model for c in expand(sweep)] == ["ising", "xy"]


def test_yaml_syntax_error_has_line_and_column():
    msg = only("data: {model: ising}\ntrain: {batch_size: 10\n  epochs: 3\n", "bad.yaml")
    assert msg.startswith("bad.yaml: line 3, column 9: YAML syntax error: ")
    assert "expected ',' or '}'" in msg


def test_yaml_duplicate_key():
    assert only("data: {model: ising}\ndata: {model: xy}\n") == (
        "s.yaml: line 2, column 1: YAML syntax error: found duplicate key 'data' (first at "
        "line 1) (while constructing a mapping)")


def test_messages_name_the_file(tmp_path):
    path = tmp_path / "sweeps" / "broken.yaml"
    path.parent.mkdir()
    path.write_text("data: {model: ising, beta: -1}\n")
    with pytest.raises(SpecError) as info:
        load_sweep(path)
    assert info.value.messages == [f"{path}: data.beta: must be >= 0, got -1"]
    with pytest.raises(SpecError, match="cannot read"):
        load_sweep(tmp_path / "missing.yaml")


def test_sweep_from_dict():
    sweep = sweep_from_dict({"data": {"model": "ising"}, "grid": {"data.beta": [0.5, 1]}})
    assert sweep.dims[0].values["data.beta"] == (0.5, 1.0)


# ---------------------------------------------------------------- JSON Schema


def test_json_schema_structure():
    schema = json_schema()
    json.dumps(schema)  # plain JSON
    props = schema["properties"]
    assert {"name", "seed", "data", "rbm", "train", "grid"} <= set(props)
    assert schema["additionalProperties"] is False
    assert props["data"]["properties"]["model"]["enum"] == ["ising", "xy"]
    assert props["data"]["properties"]["beta"]["minimum"] == 0
    assert props["train"]["properties"]["batch_size"]["default"] == 100
    grid = props["grid"]["properties"]
    assert "data.beta" in grid and "train.seed" in grid and "zip" in grid
    assert {"linspace", "logspace", "arange", "int"} <= set(schema["$defs"]["Range"]["properties"])


def test_json_schema_validates_the_example():
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    doc = yaml.safe_load(EXAMPLE)
    assert list(validator.iter_errors(doc)) == []
    doc["grid"]["data.n_visible"] = {"logspace": [1, 2, 3], "int": True}
    assert list(validator.iter_errors(doc)) == []
    for bad in ({"data.bta": [1]}, {"rbm.hidden": {"linspace": [0, 1, 2]}},
                {"data.beta": [-1]}, {"zip": [{"data.nope": [1]}]}):
        assert list(validator.iter_errors({**doc, "grid": bad})), bad
    assert list(validator.iter_errors({**doc, "trian": {}}))


def test_json_schema_is_the_parsers_syntax():
    """Generated from the models the parser reads (the sections, the grid syntax's Range): every sweep file of
    the project validates, and values the parser refuses for their field or range, the schema refuses too."""
    jsonschema = pytest.importorskip("jsonschema")
    from pathlib import Path

    from sweep.config.gridsyntax import RANGE_KEYS
    from sweep.config.yamlio import load_text

    schema = json_schema()
    assert tuple(schema["$defs"]["Range"]["properties"]) == RANGE_KEYS
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted((Path(__file__).parent.parent / "sweeps").rglob("*.yaml"))
    assert files
    for path in files:
        assert list(validator.iter_errors(load_text(path.read_text(), str(path)))) == [], path
    head = "data: {model: ising}\ntrain: {batch_size: 1}\n"
    for key, value in (("data.q", "[200]"), ("train.method", "[sgd]"), ("data.couplings", "[[]]"),
                       ("rbm.n_hidden", "[1.5]"), ("data.n_visible", "{linspace: [2, 4, 0]}"),
                       ("data.beta", "{arange: [0, 1]}"), ("data.beta", "{linspace: [0, 1, 2], arange: [0, 1, 1]}"),
                       ("data.beta", "{lnspace: [0, 1, 2]}"), ("rbm.hidden", "{linspace: [0, 1, 2]}"),
                       ("data.beta", "[]")):
        text = f"{head}grid: {{{key}: {value}}}\n"
        errors(text)
        assert list(validator.iter_errors(load_text(text, "s.yaml"))), (key, value)


# ---------------------------------------------------------------- normalized form and hash


def test_normalized_form():
    norm = parse_sweep(EXAMPLE).normalized()
    assert list(norm) == sorted(norm)
    assert list(norm["train"]) == sorted(norm["train"])
    assert norm["rbm"]["gamma"] == 1.0 and norm["data"]["seed"] is None
    assert norm["grid"][2] == {"dim": "n_samples", "coords": [
        {"key": "data.n_samples", "name": "n_samples", "values": [100, 1000, 10000]},
        {"key": "train.epochs", "name": "epochs", "values": [3000, 300, 30]}]}


REORDERED = """\
# the same sweep, other spelling
grid:
  data.beta: {linspace: [0.1, 0.3, 2]}
  train.seed: {arange: [0, 3, 1]}
  zip:
    - {data.n_samples: [100, 1000, 10000], train.epochs: [3000, 300, 30]}
train: {init_std: 1.0e-3, record_every: 10, batch_size: 100, learning_rate: 5.0e-2, method: exact}
rbm: {n_hidden: 1, fields: zero, hidden: spin}
data: {n_visible: 100, model: ising}
seed: 1234
name: another-name
"""


def test_spec_hash_insensitive_to_spelling():
    base = parse_sweep(EXAMPLE.replace("[0.1, 0.3, 0.5, 0.7, 1.0]", "[0.1, 0.3]"))
    h = base.spec_hash()
    assert len(h) == 64 and int(h, 16) >= 0
    assert parse_sweep(REORDERED).spec_hash() == h
    with_defaults = EXAMPLE.replace("[0.1, 0.3, 0.5, 0.7, 1.0]", "[0.1, 0.3]").replace(
        "n_visible: 100}", "n_visible: 100, q: 10, couplings: [1]}")
    assert parse_sweep(with_defaults).spec_hash() == h


@pytest.mark.parametrize("old, new", [
    ("learning_rate: 0.05", "learning_rate: 0.06"),
    ("seed: 1234 ", "seed: 1235 "),
    ("n_visible: 100", "n_visible: 101"),
    ("[3000, 300, 30]", "[3000, 300, 31]"),
    ("[0.1, 0.3, 0.5, 0.7, 1.0]", "[0.1, 0.3, 0.5, 0.7, 1.1]"),
    ("fields: zero", "fields: learned"),
])
def test_spec_hash_sensitive_to_values(old, new):
    assert old in EXAMPLE
    assert parse_sweep(EXAMPLE.replace(old, new)).spec_hash() != parse_sweep(EXAMPLE).spec_hash()


def test_spec_hash_stable_across_processes():
    code = ("import sys; from sweep.config.sweepfile import parse_sweep; "
            "print(parse_sweep(sys.stdin.read()).spec_hash())")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], input=EXAMPLE, capture_output=True,
                         text=True, cwd=root, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "123", "PYTHONPATH": str(root)})
    assert out.stdout.strip() == parse_sweep(EXAMPLE).spec_hash()
