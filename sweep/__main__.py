"""`python -m sweep`: the `sweep` command."""

from .entry import main

main()
