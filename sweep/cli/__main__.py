"""`python -m sweep.cli`: the `sweep` command, as `python -m sweep`."""

from .entry import main

main()
