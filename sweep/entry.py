"""The `sweep` console script: a Ctrl-C, SIGTERM or SIGHUP is the one line `interrupted` and exit 128 + the
signal's number (130, 143, 129: the shell's convention, what systemd and job schedulers expect), never a
traceback, while the command starts (its imports take a second or two) and in commands that change nothing;
`sweep run` installs its own handling (stop scheduling, keep what finished, release the store, say how to
resume; the same exit codes)."""

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


def _ignore_signals() -> None:
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def run(app) -> None:
    """Run the Typer `app`; once it has finished, signals are ignored while the interpreter exits."""
    try:
        app()
    finally:
        # The command has finished and said so: a signal while Ray's exit handlers stop its processes changes
        # nothing and must not interrupt them with a traceback (their waits are bounded). Ray is shut down here,
        # and the signals ignored again once it is down (sweep.raycompat: under an unguarded Ray its shutdown
        # puts SIGTERM back to its default action at the C level).
        _ignore_signals()
        from .raycompat import stop_ray

        stop_ray()
        _ignore_signals()


def main() -> None:
    quiet_interrupts()
    from .cli import app

    run(app)
