"""`python -m service.cli`: the `ganforge` command."""

from service.cli.main import main

main()
