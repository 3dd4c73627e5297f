"""tests/_limits.py: time limits stretch with the load per core, never below the idle value nor beyond CAP times
it (a hang still fails), and the subprocess helpers give up once the stretched limit has passed."""

import os
import subprocess
import sys

import pytest

import _limits


@pytest.fixture
def load(monkeypatch):
    value = {"now": 0.0}
    monkeypatch.setattr(os, "getloadavg", lambda: (value["now"], 0.0, 0.0))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.delenv("SWEEP_TEST_TIME_FACTOR", raising=False)
    return value


def test_scaled_follows_the_load_per_core_between_one_and_the_cap(load, monkeypatch):
    load["now"] = 0.5
    assert _limits.scaled(10) == 10  # an idle machine: the idle value
    load["now"] = 6.0
    assert _limits.scaled(10) == 30  # load 6 on 2 cores: three times as long
    load["now"] = 1000.0
    assert _limits.scaled(10) == 10 * _limits.CAP  # a hang still fails
    monkeypatch.setenv("SWEEP_TEST_TIME_FACTOR", "2")
    load["now"] = 0.0
    assert _limits.scaled(10) == 20
    monkeypatch.setenv("SWEEP_TEST_TIME_FACTOR", "slow")
    with pytest.raises(ValueError, match="SWEEP_TEST_TIME_FACTOR"):
        _limits.scaled(10)


def test_a_deadline_keeps_the_highest_load_seen(load):
    d = _limits.Deadline(10)
    assert d.limit() == 10
    load["now"] = 8.0
    assert d.limit() == 40
    load["now"] = 0.0
    assert d.limit() == 40 and not d.expired()


def test_the_subprocess_helpers_give_up_after_the_limit(load):
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    with pytest.raises(subprocess.TimeoutExpired):
        _limits.run(sleeper, 0.5, capture_output=True)
    p = subprocess.Popen(sleeper)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            _limits.wait(p, 0.5)
    finally:
        p.kill()
        p.wait()
    r = _limits.run([sys.executable, "-c", "import sys; print(sys.stdin.read().upper())"], 60, input="ok",
                    capture_output=True, text=True)
    assert (r.returncode, r.stdout) == (0, "OK\n")
