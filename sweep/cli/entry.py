"""The `sweep` console script: a Ctrl-C, SIGTERM or SIGHUP is the one line `interrupted` and exit 128 + the
signal's number (130, 143, 129: the shell's convention, what systemd and job schedulers expect), never a
traceback, while the command starts (its imports take a second or two) and in commands that change nothing;
`sweep run` installs its own handling (stop scheduling, keep what finished, release the store, say how to
resume; the same exit codes)."""

from .signals import ignore_signals, quiet_interrupts


def run(app) -> None:
    """Run the Typer `app`; once it has finished, signals are ignored while the interpreter exits."""
    try:
        app()
    finally:
        # The command has finished and said so: a signal while Ray's exit handlers stop its processes changes
        # nothing and must not interrupt them with a traceback (their waits are bounded). Ray is shut down here,
        # and the signals ignored again once it is down (sweep.run.raycompat: under an unguarded Ray its shutdown
        # puts SIGTERM back to its default action at the C level).
        ignore_signals()
        from ..run.raycompat import stop_ray

        stop_ray()
        ignore_signals()


def main() -> None:
    quiet_interrupts()
    from .commands import app

    run(app)
