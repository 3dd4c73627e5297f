"""Hostile sweep files are cheap to refuse: bounded time and memory, one clear message each, no traceback.

Each case runs `sweep plan` in a child process whose address space is capped (RLIMIT_AS) and whose run time
is bounded by a timeout: an alias bomb that expanded, or a file copied whole into memory many times, would
hit one of the two and fail the test.
"""

import sys
import textwrap

import pytest

from _limits import run as run_within
from sweep import parse_sweep
from sweep.config.fields import MAX_ERRORS, MAX_SHOWN
from sweep.config.gridsyntax import MAX_VALUES
from sweep.config.sweepfile import SpecError
from sweep.config.yamlio import MAX_FILE_BYTES, MAX_NODES

MEMORY_CAP = 2 << 30  # bytes of address space for the child (Python + numpy + zarr import in ~1 GB)
TIME_CAP = 60  # seconds on an idle machine (load-scaled): a refusal takes about one (the imports); a bomb minutes


def plan(tmp_path, text: str, name: str = "hostile.yaml"):
    """`sweep plan FILE` in a child with capped memory; returns (exit code, stderr+stdout)."""
    f = tmp_path / name
    f.write_text(text)
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (%d, %d)); "
            "from sweep.cli import app; sys.argv = ['sweep', 'plan', %r, '--store', %r]; app()"
            % (MEMORY_CAP, MEMORY_CAP, str(f), str(tmp_path / "s.zarr")))
    r = run_within([sys.executable, "-c", code], TIME_CAP, capture_output=True, text=True)
    return r.returncode, r.stderr + r.stdout


def bomb(levels: int = 9, width: int = 9) -> str:
    """A 'billion laughs' list: `width`**`levels` ones from a few hundred bytes of anchors and aliases."""
    rows = ["[" + ", ".join(["1.0"] * width) + "]"]
    for i in range(1, levels):
        rows.append("[" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "[" + ", ".join(f"&l{i} {row}" for i, row in enumerate(rows)) + "]"


HEAD = "data: {model: ising, n_visible: 10, n_samples: 20}\ntrain: {method: exact, epochs: 1, batch_size: 10}\n"


@pytest.mark.parametrize("where", ["grid list", "data.couplings", "zip group"])
def test_alias_bombs_are_refused_in_bounded_time_and_memory(tmp_path, where):
    b = bomb()
    assert len(b) < 800
    text = {"grid list": HEAD + f"grid:\n  data.beta: {b}\n",
            "data.couplings": f"data: {{model: ising, couplings: {b}}}\n",
            "zip group": HEAD + f"grid:\n  zip:\n    - {{data.beta: {b}, train.seed: [0, 1]}}\n"}[where]
    code, out = plan(tmp_path, text)
    assert code == 2 and "Traceback" not in out, out[-3000:]
    assert f"its aliases expand to more than {MAX_NODES} YAML nodes" in out
    assert len(out.splitlines()) == 1 and len(out) < 400


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    text = HEAD + "# " + "x" * (50 * 2**20) + "\n"
    code, out = plan(tmp_path, text)
    assert code == 2 and "Traceback" not in out
    assert f"more than the {MAX_FILE_BYTES} a sweep file may hold" in out and len(out) < 300


@pytest.mark.slow  # about 5 s
def test_a_list_longer_than_the_limit_is_refused_without_checking_its_values(tmp_path):
    values = ",".join(["-1"] * (MAX_VALUES + 1))  # every one of them would be a bad beta
    code, out = plan(tmp_path, HEAD + f"grid:\n  data.beta: [{values}]\n")
    assert code == 2 and "Traceback" not in out
    assert out.strip() == (f"{tmp_path / 'hostile.yaml'}: grid.data.beta: has {MAX_VALUES + 1} values, more than "
                           f"the {MAX_VALUES} a grid key may take")


@pytest.mark.slow  # about 5 s
def test_many_bad_values_give_a_capped_list_of_errors(tmp_path):
    n = 50_000
    values = ",".join(["-1"] * n)
    code, out = plan(tmp_path, HEAD + f"grid:\n  data.beta: [{values}]\n")
    lines = out.strip().splitlines()
    assert code == 2 and len(lines) == MAX_ERRORS + 1, lines[-3:]
    assert lines[0].endswith("grid.data.beta[0]: must be >= 0, got -1")
    assert lines[-1].endswith(f"... and {n - MAX_ERRORS} more problem(s) not shown")


def test_long_values_are_summarised_in_messages():
    long = "[" + ", ".join(str(i) for i in range(5000)) + "]"
    with pytest.raises(SpecError) as info:
        parse_sweep(f"data: {{model: ising, beta: {long}}}\n", "f.yaml")
    (msg,) = info.value.messages
    assert msg.startswith("f.yaml: data.beta: must be a number, got list of 5000 items [0, 1, 2, 3, 4, 5, ...]")
    assert len(msg) < 80 + MAX_SHOWN
    with pytest.raises(SpecError) as info:
        parse_sweep("data: {model: ising, kernel: '" + "k" * 10_000 + "'}\n", "f.yaml")
    assert len(info.value.messages[0]) < 200 + MAX_SHOWN


def test_deep_nesting_is_a_message():
    with pytest.raises(SpecError, match="nested too deeply"):
        parse_sweep("data: " + "[" * 200_000 + "]" * 200_000 + "\n", "deep.yaml")


def test_couplings_are_bounded():
    with pytest.raises(SpecError, match=r"data.couplings: must have at most 64 item\(s\)"):
        parse_sweep("data: {model: xy, couplings: [" + ", ".join(["0.1"] * 65) + "]}\n", "c.yaml")


@pytest.mark.slow  # about 8 s: a million cells
def test_a_grid_of_a_million_cells_plans_in_bounded_time_and_memory(tmp_path):
    values = ",".join(f"{0.1 + i * 1e-6:.6f}" for i in range(MAX_VALUES))
    text = HEAD + f"grid:\n  data.beta: [{values}]\n  train.seed: {{arange: [0, 10, 1]}}\n"
    code, out = plan(tmp_path, textwrap.dedent(text))
    assert code == 0 and "1000000 cells over beta(100000) x seed(10)" in out, out[-2000:]
