"""Findings: one problem in a definition, as data, rendered only at the edge.

Every rule has a stable ``code`` (for ``--format json`` and for tests), a severity, the line of
the element it is about and, where a person can act on it, a hint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import AugmentError, printable


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # "error" or "warning"
    message: str
    line: int | None = None
    column: int | None = None
    device: str | None = None
    hint: str | None = None

    def render(self, filename: str) -> str:
        """``FILE:LINE:COL: severity: message (hint: ...)``, one printable line whatever the
        file name and the document's values hold."""
        where = filename
        if self.line:
            where += f":{self.line}"
            if self.column:
                where += f":{self.column}"
        text = f"{where}: {self.severity}: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return printable(text)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class InvalidDomain(AugmentError):
    """The definition has errors; ``findings`` lists every one found."""

    def __init__(self, findings: list[Finding]) -> None:
        first = next(f for f in findings if f.severity == "error")
        super().__init__(first.message, line=first.line, hint=first.hint, code=first.code)
        self.findings = findings

    def __str__(self) -> str:
        return self.message


def from_error(err: AugmentError) -> Finding:
    """An exception raised by a pipeline stage, as a finding."""
    return Finding(code=err.code, severity="error",
                   message=err.message, line=err.line, hint=err.hint)
