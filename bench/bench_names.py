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

import time

try:
    from bench import walks
except ImportError:  # run as a script: bench/ is sys.path[0]
    import walks  # type: ignore[no-redef]

from augmenter.checks import rules
from augmenter.checks.names import check_names, unknown_names
from augmenter.pipeline import Options, run
from augmenter.policy import names

EMBEDDED = Options(boards="embedded")


def main() -> None:
    args = walks.arguments(__doc__)
    load, n = walks.load_ms("augmenter.policy.names", "vocabulary", args.runs)
    size = names.TABLE.stat().st_size
    vocab = names.vocabulary()
    print(f"Table: {size / 1024:.0f} KiB, {len(vocab.elements)} elements, "
          f"{len(vocab.models)} content models, {len(vocab.values)} value sets; read in "
          f"{load:.2f} ms (median of {n} fresh processes)\n")
    print("| guest | elements | walk (ms) | per element (µs) | run without (ms) "
          "| run with (ms) | added |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    without = tuple(c for c in rules.CHECKS if c is not check_names)
    for g in walks.samples():
        walk = walks.best(lambda root=g.root: unknown_names(root), args.runs)  # type: ignore[misc]
        with_rule: list[float] = []
        without_rule: list[float] = []
        saved = rules.CHECKS
        try:
            for i in range(args.runs):
                for rule_on in ((True, False) if i % 2 else (False, True)):
                    rules.CHECKS = saved if rule_on else without
                    start = time.perf_counter()
                    run(g.xml, EMBEDDED)
                    (with_rule if rule_on else without_rule).append(
                        (time.perf_counter() - start) * 1000)
        finally:
            rules.CHECKS = saved
        a, b = min(without_rule), min(with_rule)
        print(f"| {g.label} | {g.elements} | {walk:.2f} | {walk * 1000 / g.elements:.2f} "
              f"| {a:.2f} | {b:.2f} | {(b - a) / a:+.0%} |")


if __name__ == "__main__":
    main()
