"""The `sweep` console script: a Ctrl-C (or SIGTERM) is the one line `interrupted` and exit 130, never a
traceback, while the command starts (its imports take a second or two) and in commands that change nothing;
`sweep run` installs its own handling (stop scheduling, keep what finished, say how to resume)."""

import signal
import sys


def _interrupted(signum, frame):
    sys.stderr.write("interrupted\n")
    raise SystemExit(130)


def quiet_interrupts() -> None:
    """Until a command installs its own handler, SIGINT and SIGTERM end the process quietly (exit 130)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupted)


def run(app) -> None:
    """Run the Typer `app`; once it has finished, signals are ignored while the interpreter exits."""
    try:
        app()
    finally:
        # The command has finished and said so: a signal while Ray's exit handlers stop its processes changes
        # nothing and must not interrupt them with a traceback (their waits are bounded).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)


def main() -> None:
    quiet_interrupts()
    from .cli import app

    run(app)
