"""--set overrides: dotted paths into the sweep file, applied before validation, named in errors."""

import pytest
import yaml

from sweep import parse_sweep
from sweep.config.overrides import parse_assignment
from sweep.config.sweepfile import SpecError

FILE = """
name: base
seed: 3
data: {model: ising, n_visible: 10, beta: 0.5}
train: {method: exact, batch_size: 20}
grid:
  train.seed: [0, 1]
  zip:
    - {data.n_samples: [100, 200], train.epochs: [8, 4]}
"""


def sweep(**overrides):
    return parse_sweep(FILE, "f.yaml", overrides=overrides)


def test_values_are_yaml():
    assert parse_assignment("train.epochs=50") == ("train.epochs", 50)
    assert parse_assignment("grid.data.beta=[0.5, 1.0]") == ("grid.data.beta", [0.5, 1.0])
    assert parse_assignment("train.learning_rate=1e-3") == ("train.learning_rate", 0.001)
    assert parse_assignment("grid.data.beta={linspace: [0, 1, 3]}") == ("grid.data.beta", {"linspace": [0, 1, 3]})
    assert parse_assignment("name=trial2") == ("name", "trial2")
    with pytest.raises(SpecError, match=r"--set train.epochs: expected KEY=VALUE"):
        parse_assignment("train.epochs")
    with pytest.raises(SpecError, match=r"--set x=\[1: line 1, column 3: YAML syntax error"):
        parse_assignment("x=[1")


def test_sections_names_seeds_and_grid_entries():
    s = sweep(**{"rbm.n_hidden": 3, "name": "trial2", "seed": 9})
    assert (s.name, s.seed, s.base["rbm"]["n_hidden"]) == ("trial2", 9, 3)
    s = sweep(**{"grid.data.beta": [0.5, 1.0]})  # fixed in data: the override puts it on the grid
    assert "beta" not in s.base["data"] and s.dims[-1].values["data.beta"] == (0.5, 1.0)
    s = sweep(**{"data.n_samples": 300})  # varied in a zip group: the override fixes it
    assert s.base["data"]["n_samples"] == 300 and [d.keys for d in s.dims] == [("train.seed",), ("train.epochs",)]
    s = sweep(**{"grid.data.n_samples": [100, 400]})  # inside its zip group
    assert s.dims[1].values["data.n_samples"] == (100, 400)
    s = sweep(**{"grid.zip[0].train.epochs": [6, 2]})
    assert s.dims[1].values["train.epochs"] == (6, 2)


def test_the_effective_sweep_is_the_text_and_reparses_to_the_same_sweep():
    s = sweep(**{"train.learning_rate": 0.05, "grid.data.beta": [0.5, 1.0]})
    assert s.text.startswith("# f.yaml with --set train.learning_rate=0.05 --set grid.data.beta=[0.5, 1.0]\n")
    again = parse_sweep(s.text, "f.yaml")
    assert again.spec_hash() == s.spec_hash() and again.normalized() == s.normalized()
    assert yaml.safe_load(s.text)["grid"]["data.beta"] == [0.5, 1.0]
    assert sweep().text == FILE  # no override: the file as written


def test_errors_name_the_override():
    def only(**o):
        with pytest.raises(SpecError) as info:
            sweep(**o)
        assert len(info.value.messages) == 1, info.value.messages
        return info.value.messages[0]

    assert only(**{"train.epochs": -1}) == "f.yaml: train.epochs: must be >= 0, got -1 (from --set train.epochs=-1)"
    assert only(**{"grid.train.seed": [0, -1]}).endswith(
        "grid.train.seed[1]: must be >= 0, got -1 (from --set grid.train.seed=[0, -1])")
    with pytest.raises(SpecError) as info:
        sweep(**{"train.batch_size": 500})  # a cross-field check, in every cell it fails in
    assert [m.endswith("(from --set train.batch_size=500)") for m in info.value.messages] == [True, True]
    assert "(from --set grid.data.n_samples=[100, 200, 300])" in only(**{"grid.data.n_samples": [100, 200, 300]})
    assert only(**{"data.bta": 1}) == "f.yaml: --set data.bta=1: data has no field 'bta'; did you mean 'beta'?"
    assert only(**{"data.xyz": 1}).startswith("f.yaml: --set data.xyz=1: data has no field 'xyz'; its fields: model,")
    assert only(**{"gird.data.beta": [1]}).startswith("f.yaml: --set gird.data.beta=[1]: unknown key 'gird.data.beta'")
    assert only(**{"grid.zip[3].data.beta": [1]}) == "f.yaml: --set grid.zip[3].data.beta=[1]: the grid has 1 zip group(s)"
