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

try:
    from bench import walks
except ImportError:  # run as a script: bench/ is sys.path[0]
    import walks  # type: ignore[no-redef]

from augmenter.checks import values
from augmenter.policy import parse_rules


def main() -> None:
    args = walks.arguments(__doc__)
    load, n = walks.load_ms("augmenter.policy.parse_rules", "table", args.runs)
    path = parse_rules.resources.files("augmenter").joinpath("data", parse_rules.DATA)
    size = len(path.read_bytes())
    table = parse_rules.table()
    print(f"Table: {size / 1024:.0f} KiB, {len(table.rules)} rules; read in "
          f"{load:.2f} ms (median of {n} fresh processes)\n")
    print("| guest | elements | walk (ms) | per element (µs) |")
    print("| ---: | ---: | ---: | ---: |")
    for g in walks.samples():
        walk = walks.best(lambda root=g.root: list(values.findings(root)),  # type: ignore[misc]
                          args.runs)
        print(f"| {g.label} | {g.elements} | {walk:.2f} | {walk * 1000 / g.elements:.2f} |")


if __name__ == "__main__":
    main()
