"""``python -m augmenter`` is the ``augment`` command."""

from .launch import main

main()
