"""`python -m cli` is the `aios` command."""

from cli.main import main

main()
