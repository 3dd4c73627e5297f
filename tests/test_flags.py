"""Fast-math stays where it is asked for.

Numba lets a jitted function inherit its caller's fast-math flags unless it states its own, and the
specialization compiled for a fast caller then also serves calls from Python. Without explicit flags,
compiling a Gibbs sweep (fast-math with reassociation) that reaches the double-well sampler rebuilt
special.erfcx with reassociation: LLVM fused exp(a) exp(b) into exp(a + b) and erfcx(-26.6) lost two
digits; and which version a later call got depended on what had been compiled first in the process.
"""

import importlib
import os
import pkgutil
import sys
from pathlib import Path

import pytest
from numba.core.registry import CPUDispatcher

from _limits import run as run_within

import kernels

ROOT = Path(__file__).resolve().parents[1]


def test_every_kernel_states_its_fast_math_flags():
    missing = []
    for info in pkgutil.iter_modules(kernels.__path__):
        mod = importlib.import_module(f"kernels.{info.name}")
        for name, obj in vars(mod).items():
            if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == mod.__name__:
                opts = obj.targetoptions
                if "fastmath" not in opts and opts.get("inline") != "always":
                    missing.append(f"{mod.__name__}.{name}")
    assert missing == []


SCRIPT = """
import mpmath, numpy as np
from kernels import potentials as pot
from kernels.rbm import VIS_REAL, gibbs
from kernels.rng import lanes_from_stream, new_state
s = new_state(0)
chains = np.ones((4, 6), np.int8)
gibbs(np.full((1, 6), 0.1), np.zeros(6), pot.DOUBLE_WELL, np.ones(1), -np.ones(1), chains, 1, s,
      lanes_from_stream(s), VIS_REAL)
from kernels.special import erfcx
mpmath.mp.dps = 40
x = -26.6
ref = float(mpmath.exp(mpmath.mpf(x) ** 2) * mpmath.erfc(mpmath.mpf(x)))
print(abs(erfcx(x) / ref - 1))
"""


@pytest.mark.slow  # about 16 s: compiles a fast-math sweep in a fresh process
def test_special_functions_keep_their_precision_after_a_fast_sweep_is_compiled(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    out = run_within([sys.executable, "-c", SCRIPT], 600, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.split()[-1]) < 2e-15
