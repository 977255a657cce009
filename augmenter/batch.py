"""Many documents through the Python API at once, over worker processes.

A management layer that re-checks a fleet calls :func:`augment_many` with every definition:
each document is augmented as :func:`augmenter.run` would, and the outcomes come back in the
documents' order, whatever the number of workers. A bad document does not stop the batch: its
outcome carries its findings instead of XML, as ``augment --check`` would report them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from .checks.findings import Finding
from .pipeline import Options, attempt
from .process.workers import available_cpus, ordered_map


@dataclass(frozen=True)
class Outcome:
    """One document's result: the augmented XML, or None when the document has errors; and
    its findings (the warnings of a document that augmented; otherwise every problem)."""

    xml: str | None
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return self.xml is not None


def augment_document(document: str | bytes, options: Options) -> Outcome:
    """:func:`augmenter.run` for one document, its failure as data rather than raised."""
    result, findings = attempt(document, options)
    return Outcome(result.to_string() if result is not None else None, tuple(findings))


def augment_many(documents: Sequence[str | bytes], options: Options | None = None,
                 jobs: int = 0) -> list[Outcome]:
    """Every document augmented, in order, over ``jobs`` worker processes (0: one per CPU).

    Workers are forked, so they start at once with the boards already loaded. A process that
    runs other threads does the work itself instead: a fork copies one thread of a
    multi-threaded process, and a lock another thread held stays locked in the copy.
    """
    work = functools.partial(augment_document, options=options or Options())
    return list(ordered_map(work, documents, jobs or available_cpus()))
