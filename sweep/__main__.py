"""`python -m sweep`: the `sweep` command."""

from .cli.entry import main

main()
