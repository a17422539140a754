"""``python -m certkeeper`` is the ``certkeeper`` command."""

from .cli.main import main

main()
