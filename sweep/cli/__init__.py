"""The `sweep` command: a thin Typer layer over the Python API (sweep.cli.commands) and its entry point
(sweep.cli.entry). The top layer."""


def __getattr__(name):  # `from sweep.cli import app`: the Typer application, loaded when first asked for
    if name == "app":
        from .commands import app

        return app
    raise AttributeError(f"module 'sweep.cli' has no attribute {name!r}")
