"""``python -m augmenter`` is the ``augment`` command."""

from .cli.launch import main

main()
