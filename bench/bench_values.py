"""What the parse-time check (the values libvirt's parser refuses) costs a run.

    .venv/bin/python bench/bench_values.py            # prints a markdown table
    .venv/bin/python bench/bench_values.py --runs 50

* the table (``augmenter/data/parse_rules.json``): its size, and reading it in a fresh process
  (it is read on the first check, never at import);
* the walk over a parsed guest, per element, on q35 guests of 8 to 256 devices and a pc guest
  of 1,000 (``bench/guests.py``): it must stay linear (each element meets only the rules of its
  own path, in the table's trie of element names).

Goal: the walk well under a millisecond for a 128-device guest, the table under 20 ms. Not
part of the pytest suite.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

try:
    from bench import guests as gen
except ImportError:  # run as a script: bench/ is sys.path[0]
    import guests as gen  # type: ignore[no-redef]

from augmenter.checks import values
from augmenter.policy import parse_rules
from augmenter.xml.document import parse_document

GUESTS = (("q35", 8), ("q35", 32), ("q35", 128), ("q35", 256), ("pc", 1000))
LOAD = ("import time, augmenter.policy.parse_rules as p; t = time.perf_counter(); p.table(); "
        "print((time.perf_counter() - t) * 1000)")


def best(fn: Callable[[], object], runs: int) -> float:
    """Fastest of ``runs`` calls, in ms: the least disturbed by other jobs on the machine."""
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return min(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    loads = [float(subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True,
                                  check=True).stdout) for _ in range(max(5, args.runs // 3))]
    path = parse_rules.resources.files("augmenter").joinpath("data", parse_rules.DATA)
    size = len(path.read_bytes())
    table = parse_rules.table()
    print(f"Table: {size / 1024:.0f} KiB, {len(table.rules)} rules; read in "
          f"{statistics.median(loads):.2f} ms (median of {len(loads)} fresh processes)\n")
    print("| guest | elements | walk (ms) | per element (µs) |")
    print("| ---: | ---: | ---: | ---: |")
    for machine, n in GUESTS:
        root = parse_document(gen.guest(machine, n).encode()).getroot()
        count = sum(1 for _ in root.iter())
        walk = best(lambda root=root: list(values.findings(root)), args.runs)  # type: ignore[misc]
        print(f"| {machine}, {n} devices | {count} | {walk:.2f} | {walk * 1000 / count:.2f} |")


if __name__ == "__main__":
    main()
