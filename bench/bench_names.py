"""What the names check (unknown elements and attributes) costs a run.

    .venv/bin/python bench/bench_names.py            # prints a markdown table
    .venv/bin/python bench/bench_names.py --runs 50

* the vocabulary table: its size, and reading it in a fresh process (it is read on the first
  check, never at import);
* the walk over a parsed guest, per element, on q35 guests of 8 to 256 devices and a pc guest
  of 1,000 (``bench/guests.py``): it must stay linear;
* ``augmenter.run`` in process with and without the rule, interleaved so that load on the
  machine hits both alike.

Goal: a plain ``augment`` run is not noticeably slower (the walk well under a millisecond for
a 128-device guest, the table under 2 ms). Not part of the pytest suite.
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

from augmenter.checks import rules
from augmenter.checks.names import check_names, unknown_names
from augmenter.pipeline import Options, run
from augmenter.policy import names
from augmenter.xml.document import parse_document

GUESTS = (("q35", 8), ("q35", 32), ("q35", 128), ("q35", 256), ("pc", 1000))
EMBEDDED = Options(boards="embedded")
LOAD = ("import time, augmenter.policy.names as n; t = time.perf_counter(); n.vocabulary(); "
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
    size = names.TABLE.stat().st_size
    vocab = names.vocabulary()
    print(f"Table: {size / 1024:.0f} KiB, {len(vocab.elements)} elements, "
          f"{len(vocab.models)} content models, {len(vocab.values)} value sets; read in "
          f"{statistics.median(loads):.2f} ms (median of {len(loads)} fresh processes)\n")
    print("| guest | elements | walk (ms) | per element (µs) | run without (ms) "
          "| run with (ms) | added |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    without = tuple(c for c in rules.CHECKS if c is not check_names)
    for machine, n in GUESTS:
        xml = gen.guest(machine, n)
        root = parse_document(xml.encode()).getroot()
        count = sum(1 for _ in root.iter())
        walk = best(lambda root=root: unknown_names(root), args.runs)  # type: ignore[misc]
        with_rule: list[float] = []
        without_rule: list[float] = []
        saved = rules.CHECKS
        try:
            for i in range(args.runs):
                for rule_on in ((True, False) if i % 2 else (False, True)):
                    rules.CHECKS = saved if rule_on else without
                    start = time.perf_counter()
                    run(xml, EMBEDDED)
                    (with_rule if rule_on else without_rule).append(
                        (time.perf_counter() - start) * 1000)
        finally:
            rules.CHECKS = saved
        a, b = min(without_rule), min(with_rule)
        print(f"| {machine}, {n} devices | {count} | {walk:.2f} | {walk * 1000 / count:.2f} "
              f"| {a:.2f} | {b:.2f} | {(b - a) / a:+.0%} |")


if __name__ == "__main__":
    main()
