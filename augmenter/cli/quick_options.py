"""The ``augment`` command's options, as a table for the quick start
(:mod:`augmenter.cli.launch`).

Generated from the typer command in :mod:`augmenter.cli.app` by
``scripts/gen_quick_options.py``: do not edit. A test regenerates it and compares, so the
quick start and typer cannot disagree about an option.
"""

# spelling -> (Request field, kind): "flag" takes no value, "text" one word, "count" a
# whole number, "number" a decimal one (typer's float); options typer handles itself (--help,
# --version, completion) are not here, so a command line with one of them always goes to typer.
OPTIONS: dict[str, tuple[str, str]] = {
    '-o': ('output', 'text'),
    '--output': ('output', 'text'),
    '--in-place': ('in_place', 'flag'),
    '-i': ('in_place', 'flag'),
    '--check': ('check', 'flag'),
    '--explain': ('explain', 'flag'),
    '--graph': ('graph', 'text'),
    '--verify': ('verify', 'flag'),
    '--format': ('fmt', 'text'),
    '--strict': ('strict', 'flag'),
    '--schema': ('schema', 'flag'),
    '--boards': ('boards', 'text'),
    '--reserve-hotplug': ('reserve_hotplug', 'count'),
    '--timeout': ('timeout', 'number'),
    '--jobs': ('jobs', 'count'),
    '-j': ('jobs', 'count'),
    '--quiet': ('quiet', 'flag'),
    '-q': ('quiet', 'flag'),
    '--connect': ('connect', 'text'),
    '-c': ('connect', 'text'),
    '--force': ('force', 'flag'),
    '--lock-occupied': ('lock_occupied', 'flag'),
    '--convert-to': ('convert_to', 'text'),
    '--group-host-functions': ('group_host_functions', 'flag'),
    '--numa-aware': ('numa_aware', 'flag'),
    '--host-numa': ('host_numa', 'text'),
}
