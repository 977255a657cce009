"""The differential run: every mutation through libvirt (cached or live) and through augment.

Shared by ``tests/test_check_differential.py`` and ``bench/mutations.py``. A mutation *agrees*
when augment gives the answer libvirt's verdict calls for (``mutation_oracle.AGREES``):

* libvirt refuses it  <=>  augment reports at least one error;
* libvirt accepts it but drops something the user wrote  <=>  augment warns, and no error;
* libvirt accepts it and keeps everything  <=>  augment has no error and no such warning.

Each disagreement falls in one class, named for what the next rule must do about it.
"""

from __future__ import annotations

import random
import tempfile
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mutation_oracle import (
    AGREES,
    CLEAN,
    DROPPED,
    ERROR,
    KEPT,
    LIBVIRT_VERSION,
    REFUSED,
    WARNING,
    AugmentVerdict,
    LibvirtVerdict,
    augment_verdict,
    cache_key,
    define_verdict,
    remove_leftovers,
    run_prefix,
    same_words,
)
from mutations import KINDS, Mutation

THREADS = 4  # libvirtd takes define round trips in parallel; 4 at once keep 2 CPUs busy
DISAGREEMENTS = Path(__file__).resolve().parent / "data" / "mutation_disagreements.txt"

# disagreement classes, by (libvirt's verdict, augment's answer)
CLASSES = {
    (REFUSED, CLEAN): "missed-refusal",
    (REFUSED, WARNING): "missed-refusal",
    (KEPT, ERROR): "false-alarm",
    (DROPPED, ERROR): "false-alarm",
    (DROPPED, CLEAN): "silent-drop",
    (KEPT, WARNING): "false-warning",
}


@dataclass(frozen=True)
class Outcome:
    mutation: Mutation
    libvirt: LibvirtVerdict
    augment: AugmentVerdict

    @property
    def agrees(self) -> bool:
        return AGREES[self.libvirt.outcome] == self.augment.outcome

    @property
    def klass(self) -> str:
        return "agree" if self.agrees else CLASSES[(self.libvirt.outcome, self.augment.outcome)]

    @property
    def same_words(self) -> bool:
        """Both refuse, and augment's first error contains libvirt's words."""
        return (self.libvirt.outcome == REFUSED and self.augment.outcome == ERROR
                and same_words(self.libvirt.message, self.augment.first))

    def line(self) -> str:
        """The disagreement as one line of ``mutation_disagreements.txt``."""
        m = self.mutation
        return (f"{m.id}  {self.klass:<14}  {m.kind}/{m.operator}  {m.base}  "
                f"{m.description}")

    def explain(self) -> str:
        """Both sides, for people: what changed, what libvirt said, what augment said."""
        lv = self.libvirt
        said = {REFUSED: f"refused: {lv.message}",
                DROPPED: f"accepted, dropped {', '.join(lv.dropped)}",
                KEPT: "accepted, kept everything"}[lv.outcome]
        ours = {ERROR: f"error: {self.augment.first}",
                WARNING: f"warning: {self.augment.first}",
                CLEAN: "nothing"}[self.augment.outcome]
        m = self.mutation
        return (f"[{m.id}] {m.kind}/{m.operator} on {m.base}: {m.description}\n"
                f"    libvirt: {said}\n    augment: {ours}")


# ---- libvirt's verdicts -----------------------------------------------------------------------


def key(m: Mutation) -> str:
    return cache_key(m.xml, LIBVIRT_VERSION)


def define_all(items: Iterable[Mutation], threads: int = THREADS) -> dict[str, LibvirtVerdict]:
    """libvirt's verdict on each mutation, asked live, ``threads`` define round trips at once."""
    todo = list(items)
    if not todo:
        return {}
    with tempfile.TemporaryDirectory(prefix="augmenter-mutations-") as tmp:
        workdir = Path(tmp)

        def one(m: Mutation) -> tuple[str, LibvirtVerdict]:
            return key(m), define_verdict(m.xml, f"{run_prefix()}{m.index}", workdir)

        try:
            with ThreadPoolExecutor(threads) as pool:
                return dict(pool.map(one, todo))
        finally:
            remove_leftovers()


def live_sample(items: list[Mutation], size: int, seed: int) -> list[Mutation]:
    """``size`` mutations spread over every kind, drawn with ``seed``."""
    rng = random.Random(seed)
    per_kind = {kind: [m for m in items if m.kind == kind] for kind in KINDS}
    out: list[Mutation] = []
    for kind in KINDS:
        share = max(1, size * len(per_kind[kind]) // max(1, len(items)))
        out += rng.sample(per_kind[kind], min(share, len(per_kind[kind])))
    return sorted(out, key=lambda m: m.index)


def stale(cached: dict[str, LibvirtVerdict], live: dict[str, LibvirtVerdict],
          items: Iterable[Mutation]) -> list[str]:
    """Mutations whose cached verdict is not what libvirtd says now, one line each."""
    out = []
    for m in items:
        k = key(m)
        if k in cached and k in live and cached[k] != live[k]:
            out.append(f"[{m.id}] {m.kind}/{m.operator} on {m.base}: {m.description}\n"
                       f"    cached: {cached[k]}\n    live:   {live[k]}")
    return out


# ---- the comparison ---------------------------------------------------------------------------


def compare(items: Iterable[Mutation], verdicts: dict[str, LibvirtVerdict]) -> list[Outcome]:
    return [Outcome(m, verdicts[key(m)], augment_verdict(m.xml)) for m in items]


@dataclass
class Tally:
    """Agreement figures for one kind (or all)."""

    total: int = 0
    agree: int = 0
    refused: int = 0
    refusals_caught: int = 0
    same_words: int = 0
    accepted: int = 0
    false_alarms: int = 0
    dropped: int = 0
    drops_warned: int = 0
    kept: int = 0
    false_warnings: int = 0

    def add(self, o: Outcome) -> None:
        self.total += 1
        self.agree += o.agrees
        lv, ours = o.libvirt.outcome, o.augment.outcome
        if lv == REFUSED:
            self.refused += 1
            self.refusals_caught += ours == ERROR
            self.same_words += o.same_words
        else:
            self.accepted += 1
            self.false_alarms += ours == ERROR
        if lv == DROPPED:
            self.dropped += 1
            self.drops_warned += ours == WARNING
        if lv == KEPT:
            self.kept += 1
            self.false_warnings += ours == WARNING

    @property
    def rate(self) -> float:
        return self.agree / self.total if self.total else 1.0


def tallies(outcomes: Iterable[Outcome]) -> dict[str, Tally]:
    """Per kind, and ``all``."""
    out = {kind: Tally() for kind in (*KINDS, "all")}
    for o in outcomes:
        out[o.mutation.kind].add(o)
        out["all"].add(o)
    return out


def pct(n: int, d: int) -> str:
    return f"{n}/{d} ({100 * n / d:.1f}%)" if d else "-"


def table(by_kind: dict[str, Tally]) -> list[str]:
    """The figures as a markdown table."""
    rows = ["| kind | mutations | agree | refusals caught | same words | false alarms "
            "| drops warned | false warnings |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for kind, t in by_kind.items():
        rows.append(f"| {kind} | {t.total} | {pct(t.agree, t.total)} | "
                    f"{pct(t.refusals_caught, t.refused)} | {pct(t.same_words, t.refused)} | "
                    f"{pct(t.false_alarms, t.accepted)} | {pct(t.drops_warned, t.dropped)} | "
                    f"{pct(t.false_warnings, t.kept)} |")
    return rows


def class_counts(outcomes: Iterable[Outcome]) -> Counter[tuple[str, str]]:
    """Disagreements counted by (class, kind/operator)."""
    return Counter((o.klass, f"{o.mutation.kind}/{o.mutation.operator}")
                   for o in outcomes if not o.agrees)


# ---- the reviewed list of today's disagreements -----------------------------------------------

HEADER = """\
# Today's disagreements between `augment --check` and libvirt 9.0 over the seeded mutations
# (tests/mutations.py), one a line: mutation id, class, kind/operator, base guest, the change.
# Classes: missed-refusal (libvirt refuses, augment has no error), false-alarm (libvirt accepts,
# augment errs), silent-drop (libvirt drops something, augment says nothing), false-warning
# (libvirt keeps everything, augment warns about a loss).
#
# tests/test_check_differential.py fails on a disagreement that is not here, and on a line here
# whose mutation now agrees: a rule that fixes it removes its line. Rewrite the whole file with
#     AUGMENTER_REGEN=1 pytest tests/test_check_differential.py
# and review the diff. `python bench/mutations.py --show ID` prints both messages for one.
"""


def read_listed(path: Path = DISAGREEMENTS) -> dict[str, str]:
    """Listed disagreements: mutation id -> its line."""
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            out[line.split()[0]] = line
    return out


def write_listed(outcomes: Iterable[Outcome], path: Path = DISAGREEMENTS) -> None:
    order = {kind: n for n, kind in enumerate(KINDS)}
    bad = sorted((o for o in outcomes if not o.agrees),
                 key=lambda o: (order[o.mutation.kind], o.mutation.operator, o.klass,
                                o.mutation.index))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(HEADER + "".join(o.line() + "\n" for o in bad))
    tmp.replace(path)
