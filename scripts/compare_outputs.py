#!/usr/bin/env python3
"""Compare what two versions of augmenter print, byte for byte, over every input we have.

A change meant to leave behaviour alone (moving modules, renaming, typing) must show no
difference here. For each input the ``augment`` command is run in five ways:

* plain: the augmented document on stdout, or the error text, and the exit status;
* ``--check --format json``, and ``--check`` (its text on stderr);
* ``--explain --format json``;
* ``--graph FILE.dot``: the DOT text (and what the command printed).

Inputs: ``examples/*.xml`` (not the ``*.out.xml``), the generated guests of
``tests/libvirt_env.generated_guests()``, and, when ``--corpus DIR`` names a folder (or the
environment variable ``AUGMENTER_CORPUS`` does), every ``DIR/*/input.xml`` in it.

Each version runs in a process of its own, with its source tree first on ``sys.path`` (an old
revision is extracted with ``git archive`` into a temporary folder), and calls the command's
entry point in process for every input, as named by that version's ``[project.scripts]``, so
that a renamed module is followed. The two processes run side by side and write their results
to a JSON file each.

    scripts/compare_outputs.py                       # HEAD~1 against the work tree
    scripts/compare_outputs.py 8d02411               # that commit against the work tree
    scripts/compare_outputs.py 8d02411 HEAD --corpus ../corpus/cases

The last line of the output is the summary; the exit status is 1 when anything differs.
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK_TREE = "work tree"

# Runs inside each version's process: argv[1] the inputs (JSON), argv[2] where results go.
DUMPER = r'''
import contextlib, gc, importlib, io, json, os, sys, tomllib

inputs_file, results_file, boards, scratch = sys.argv[1:5]
with open("pyproject.toml", "rb") as fh:
    target = tomllib.load(fh)["project"]["scripts"]["augment"]
module, _, func = target.partition(":")
main = getattr(importlib.import_module(module), func)
import augmenter
where = os.path.dirname(os.path.abspath(augmenter.__file__))
if not where.startswith(os.getcwd() + os.sep):
    sys.exit(f"augmenter comes from {where}, not from {os.getcwd()}")

def command(args):
    out, err = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
    sys.argv = ["augment", *args]
    status = 0
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = stdout, stderr
    try:
        main()
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdout, sys.stderr = saved
        gc.unfreeze()  # the entry point freezes what exists; let each run's garbage go
    return {"status": status, "stdout": out.getvalue().decode("utf-8", "surrogateescape"),
            "stderr": err.getvalue().decode("utf-8", "surrogateescape")}

dot = os.path.join(scratch, "topology.dot")
results = {}
for name, path in json.load(open(inputs_file)):
    base = ["--boards", boards, "-j", "1"]
    one = {
        "augment": command([*base, path]),
        "check": command([*base, "--check", "--format", "json", path]),
        "check-text": command([*base, "--check", path]),
        "explain": command([*base, "--explain", "--format", "json", path]),
    }
    with contextlib.suppress(FileNotFoundError):
        os.unlink(dot)
    graph = command([*base, "--graph", dot, path])
    try:
        with open(dot, "rb") as fh:
            graph["dot"] = fh.read().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        graph["dot"] = None
    one["graph"] = graph
    results[name] = one
with open(results_file, "w") as fh:
    json.dump(results, fh)
'''


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()


def source_tree(rev: str, scratch: Path) -> Path:
    """A folder holding ``rev``'s package and pyproject (the work tree itself for WORK_TREE)."""
    if rev == WORK_TREE:
        return ROOT
    commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    folder = scratch / commit[:12]
    folder.mkdir()
    archive = subprocess.run(["git", "archive", commit, "augmenter", "pyproject.toml"],
                             cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def gather_inputs(scratch: Path, corpus: str | None) -> tuple[list[tuple[str, str]], list[str]]:
    """(name, path) of every input, and notes on what was left out."""
    notes: list[str] = []
    inputs = [(f"example/{p.name}", str(p)) for p in sorted((ROOT / "examples").glob("*.xml"))
              if not p.name.endswith(".out.xml")]
    if corpus:
        cases = sorted(Path(corpus).glob("*/input.xml"))
        if cases:
            inputs += [(f"corpus/{p.parent.name}", str(p)) for p in cases]
        else:
            notes.append(f"corpus: no */input.xml under {corpus}, skipped")
    else:
        notes.append("corpus: not given (--corpus DIR or AUGMENTER_CORPUS), skipped")
    sys.path.insert(0, str(ROOT / "tests"))
    from libvirt_env import generated_guests  # the work tree's generator: same guests for both

    folder = scratch / "generated"
    folder.mkdir()
    for guest in generated_guests():
        path = folder / f"seed-{guest.seed}.xml"
        path.write_text(guest.xml, encoding="utf-8")
        inputs.append((f"generated/{path.name}", str(path)))
    return inputs, notes


def run_versions(trees: dict[str, Path], inputs_file: Path, scratch: Path,
                 boards: str) -> dict[str, dict[str, dict[str, dict[str, object]]]]:
    """Every version's results, the versions run side by side."""
    procs = {}
    for label, tree in trees.items():
        out = scratch / f"results-{len(procs)}.json"
        work = scratch / f"scratch-{len(procs)}"
        work.mkdir()
        env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("CI", None)
        proc = subprocess.Popen([sys.executable, "-c", DUMPER, str(inputs_file), str(out),
                                 boards, str(work)], cwd=tree, env=env)
        procs[label] = (proc, out)
    results = {}
    for label, (proc, out) in procs.items():
        if proc.wait() != 0:
            sys.exit(f"compare_outputs: the {label} run failed (status {proc.returncode})")
        results[label] = json.loads(out.read_text())
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", nargs="?", default="HEAD~1", help="revision (default HEAD~1)")
    parser.add_argument("new", nargs="?", default=WORK_TREE,
                        help="revision (default: the work tree, uncommitted changes included)")
    parser.add_argument("--corpus", default=os.environ.get("AUGMENTER_CORPUS"),
                        help="a folder of CASE/input.xml to include")
    parser.add_argument("--boards", default="embedded", choices=("embedded", "auto", "qemu"),
                        help="--boards of every run (default embedded: no QEMU, no cache)")
    parser.add_argument("--show", type=int, default=5, help="differences to print in full")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="compare-outputs-") as tmp:
        scratch = Path(tmp)
        trees = {args.old: source_tree(args.old, scratch),
                 args.new: source_tree(args.new, scratch)}
        if len(trees) != 2:
            sys.exit("compare_outputs: give two different revisions")
        inputs, notes = gather_inputs(scratch, args.corpus)
        inputs_file = scratch / "inputs.json"
        inputs_file.write_text(json.dumps(inputs))
        results = run_versions(trees, inputs_file, scratch, args.boards)
    old, new = (results[args.old], results[args.new])
    differences = []
    for name, _ in inputs:
        for mode, got in old[name].items():
            for field, value in got.items():
                if new[name][mode].get(field) != value:
                    differences.append((name, mode, field, value, new[name][mode].get(field)))
    for note in notes:
        print(f"note: {note}")
    for name, mode, field, before, after in differences[:args.show]:
        print(f"DIFFERENT {name} {mode} {field}:")
        diff = difflib.unified_diff(str(before).splitlines(), str(after).splitlines(),
                                    args.old, args.new, lineterm="", n=1)
        print("\n".join(itertools.islice(diff, 20)))
    runs = sum(len(old[name]) for name, _ in inputs)
    kinds = {}
    for name, _ in inputs:
        kinds[name.split("/")[0]] = kinds.get(name.split("/")[0], 0) + 1
    counts = ", ".join(f"{n} {k}" for k, n in kinds.items())
    print(f"compare_outputs: {args.old} vs {args.new}: {len(inputs)} inputs ({counts}), "
          f"{runs} runs each: {len(differences)} differences "
          f"({time.monotonic() - started:.0f} s)")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
