#!/usr/bin/env python3
"""Generate ``augmenter/cli/quick_options.py`` from the ``augment`` command's typer app.

The command line is declared once, in :mod:`augmenter.cli.app` (typer: help, completion,
usage errors). A plain run should not pay for importing typer, so the quick start
(:mod:`augmenter.cli.launch`) reads common command lines from a table of the same options,
generated here. Run it after changing an option::

    .venv/bin/python scripts/gen_quick_options.py           # rewrites the table
    .venv/bin/python scripts/gen_quick_options.py --check   # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import typer.main  # noqa: E402

from augmenter.cli.app import app  # noqa: E402

OUTPUT = ROOT / "augmenter" / "cli" / "quick_options.py"
HEADER = '''"""The ``augment`` command's options, as a table for the quick start
(:mod:`augmenter.cli.launch`).

Generated from the typer command in :mod:`augmenter.cli.app` by
``scripts/gen_quick_options.py``: do not edit. A test regenerates it and compares, so the
quick start and typer cannot disagree about an option.
"""

# spelling -> (Request field, kind): "flag" takes no value, "text" one word, "count" a
# whole number, "number" a decimal one (typer's float); options typer handles itself (--help,
# --version, completion) are not here, so a command line with one of them always goes to typer.
OPTIONS: dict[str, tuple[str, str]] = {
'''


def table() -> str:
    command = typer.main.get_command(app)
    rows: list[str] = []
    for param in command.params:
        # typer vendors click: options are known by what they are, not by click's classes
        if (param.param_type_name != "option" or param.is_eager or not param.expose_value
                or param.callback is not None or param.name is None):
            continue  # eager or acting options (--version, completion): typer's own
        if getattr(param, "multiple", False):
            continue  # a repeatable option (--allow-emulator) makes a list: typer reads it
        if getattr(param, "is_flag", False):
            kind = "flag"
        elif param.type.name in ("integer", "int range"):
            kind = "count"
        elif param.type.name in ("float", "float range"):
            kind = "number"
        else:
            kind = "text"
        for spelling in param.opts:
            rows.append(f"    {spelling!r}: ({param.name!r}, {kind!r}),\n")
    return HEADER + "".join(rows) + "}\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the table is stale")
    args = parser.parse_args()
    text = table()
    if args.check:
        if OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT} is stale: run scripts/gen_quick_options.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
