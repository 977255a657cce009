"""The commands: ``augment`` (``launch``, its quick start; ``app``, typer's front; ``files``,
what it does with its files; ``verify``, ``--verify``) and ``augment-boards`` (``boards``).

Nothing is imported here: ``augment guest.xml`` must not pay for typer.
"""
