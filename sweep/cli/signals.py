"""The signals that stop a `sweep` command (SIGINT, SIGTERM, SIGHUP) and the exit code of a command one stopped:
128 + the signal's number (130, 143, 129: the shell's convention, what systemd and job schedulers expect)."""

import signal
import sys

SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


def signal_exit_code(signum: int) -> int:
    """The exit code of a command a signal stopped: 128 + the signal's number."""
    return 128 + int(signum)


def _interrupted(signum, frame):
    try:
        sys.stderr.write("interrupted\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed stderr
        pass
    raise SystemExit(signal_exit_code(signum))


def quiet_interrupts() -> None:
    """Until a command installs its own handler, SIGINT, SIGTERM and SIGHUP end the process quietly."""
    for sig in SIGNALS:
        signal.signal(sig, _interrupted)


def ignore_signals() -> None:
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
