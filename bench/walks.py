"""The harness the table-walk benchmarks share (``bench_values.py``, ``bench_names.py``).

Each measures a table read on the first check (its load in fresh processes) and a walk over
parsed guests of growing size, per element; the guests, the timing and the load are the same
for both, so they are here once.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

try:
    from bench import guests as gen
except ImportError:  # run as a script: bench/ is sys.path[0]
    import guests as gen  # type: ignore[no-redef]

from augmenter.xml.document import Element, parse_document

GUESTS = (("q35", 8), ("q35", 32), ("q35", 128), ("q35", 256), ("pc", 1000))
"""q35 guests of 8 to 256 devices and a pc guest of 1,000 (``bench/guests.py``): the walk must
stay linear over them."""


def arguments(doc: str | None) -> argparse.Namespace:
    """``--runs N`` (30), described by the first line of the benchmark's docstring."""
    ap = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    return ap.parse_args()


def best(fn: Callable[[], object], runs: int) -> float:
    """Fastest of ``runs`` calls, in ms: the least disturbed by other jobs on the machine."""
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return min(out)


def load_ms(module: str, call: str, runs: int) -> tuple[float, int]:
    """(median ms, processes): ``module.call()`` timed in fresh processes, at least five, as
    a plain run meets it (the table is read on the first check, never at import)."""
    code = (f"import time, {module} as m; t = time.perf_counter(); m.{call}(); "
            "print((time.perf_counter() - t) * 1000)")
    n = max(5, runs // 3)
    loads = [float(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                  text=True, check=True).stdout) for _ in range(n)]
    return statistics.median(loads), n


@dataclass(frozen=True)
class Sample:
    machine: str
    devices: int
    xml: str
    root: Element
    elements: int

    @property
    def label(self) -> str:
        return f"{self.machine}, {self.devices} devices"


def samples() -> Iterator[Sample]:
    """Each of :data:`GUESTS`, written and parsed, with its count of elements."""
    for machine, n in GUESTS:
        xml = gen.guest(machine, n)
        root = parse_document(xml.encode()).getroot()
        yield Sample(machine, n, xml, root, sum(1 for _ in root.iter()))
