"""Findings: one problem in a definition, as data, rendered only at the edge.

Every rule has a stable ``code`` (for ``--format json`` and for tests), a severity, the line of
the element it is about and, where a person can act on it, a hint.

A guest that refuses every one of half a million devices has half a million findings (issue
18, Build 1), so a finding is a named tuple (no dictionary of its own, made in one call) and
the reports of many are written a block at a time: :func:`render_lines` escapes a block of
text lines with one scan, and :func:`json_report` writes the bytes ``json.dumps(records,
indent=1)`` would, one record at a time rather than as one list of dictionaries and a
pure-Python encoder's ten million pieces.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from json.encoder import encode_basestring_ascii
from typing import NamedTuple

from ..errors import AugmentError, printable, printable_lines


class Finding(NamedTuple):
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
        return printable(self.text(filename))

    def text(self, filename: str) -> str:
        """:meth:`render`'s line before its control characters are escaped."""
        where = filename
        if self.line:
            where += f":{self.line}"
            if self.column:
                where += f":{self.column}"
        if self.hint:
            return f"{where}: {self.severity}: {self.message} (hint: {self.hint})"
        return f"{where}: {self.severity}: {self.message}"

    def as_dict(self) -> dict[str, str | int | None]:
        return self._asdict()


def make(code: str, severity: str, message: str, line: int | None, column: int | None,
         device: str | None, hint: str | None) -> Finding:
    """``Finding(...)`` of every field, in order, at a third of the cost: a named tuple's
    own constructor is a Python function that fills in defaults, and a guest may refuse
    half a million devices."""
    return _NEW(Finding, (code, severity, message, line, column, device, hint))


_NEW = tuple.__new__


def render_lines(filename: str, findings: Iterable[Finding]) -> str:
    """Every finding's :meth:`~Finding.render` line, each ended by a line feed."""
    return printable_lines([f.text(filename) for f in findings])


# One record of ``json.dumps([...], indent=1)``: the file, then the finding's fields in order.
_RECORD = (" {\n" + ",\n".join(f"  {json.dumps(key)}: %s" for key in ("file", *Finding._fields))
           + "\n }")
BLOCK = 4096  # records encoded and written at a time


def _json_value(value: str | int | None) -> str:
    """What ``json.dumps`` writes for one field (``ensure_ascii``, as its default is)."""
    if value is None:
        return "null"
    if type(value) is str:
        return encode_basestring_ascii(value)
    if type(value) is int:
        return int.__repr__(value)
    return json.dumps(value)


class _Encoded(dict[str | None, str]):
    """Text fields as JSON, each distinct one encoded once: a block's findings mostly share
    their code, message, device and hint."""

    def __missing__(self, key: str | None) -> str:
        value = self[key] = _json_value(key)
        return value


def json_report(files: Iterable[tuple[str, Sequence[Finding]]],
                write: Callable[[str], object]) -> None:
    """``json.dumps([{"file": name, **f.as_dict()} ...], indent=1) + "\\n"``, written a block
    of records at a time: a list of records, each file's findings in order."""
    started = False
    for filename, findings in files:
        name = encode_basestring_ascii(filename)
        for i in range(0, len(findings), BLOCK):
            text = _Encoded()
            block = ",\n".join([
                _RECORD % (name, text[code], text[severity], text[message],
                           int.__repr__(line) if type(line) is int else _json_value(line),
                           int.__repr__(column) if type(column) is int else _json_value(column),
                           text[device], text[hint])
                for code, severity, message, line, column, device, hint
                in findings[i:i + BLOCK]])
            write((",\n" if started else "[\n") + block)
            started = True
    write("\n]\n" if started else "[]\n")


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
