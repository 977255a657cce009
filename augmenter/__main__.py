"""``python -m augmenter`` is the ``augment`` command."""

from .cli import main

main()
