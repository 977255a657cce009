"""A small reader of libvirt's C sources, for ``gen_parse_rules.py``.

Not a C parser: libvirt's style is regular enough (function names at column 0, the body between
a ``{`` and a ``}`` at column 0, one enum value per line) that a few scanners over the text find
what the generator needs: the functions and their parameters, the ``VIR_ENUM_IMPL`` string
tables, the constants of each ``typedef enum``, and, inside a body, calls with their arguments
and the ``if``/``switch``/``case`` structure around a position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_FUNC_HEAD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(", re.M)
_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|/\*.*?\*/|//[^\n]*', re.S)


def strip_comments(text: str) -> str:
    """The text with comments blanked (not inside strings), every offset and line kept."""
    def blank(m: re.Match[str]) -> str:
        t = m.group(0)
        if t.startswith(("/*", "//")):
            return re.sub(r"[^\n]", " ", t)
        return t
    return _TOKENS.sub(blank, text)


@dataclass
class Function:
    name: str
    file: str
    line: int  # of the name
    params: list[tuple[str, str]]  # (type, name)
    body: str  # from the opening brace to the closing one, comments blanked
    body_line: int  # line of the opening brace

    def line_at(self, pos: int) -> int:
        return self.body_line + self.body.count("\n", 0, pos)

    def param_index(self, name: str) -> int | None:
        for i, (_, pname) in enumerate(self.params):
            if pname == name:
                return i
        return None


def matching(text: str, pos: int, open_: str = "(", close: str = ")") -> int:
    """The offset of the bracket closing the one at ``pos`` (strings and chars skipped)."""
    depth = 0
    i = pos
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"' or c == "'":
            i = _skip_string(text, i)
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError(f"unbalanced {open_} at {pos}")


def _skip_string(text: str, i: int) -> int:
    quote = text[i]
    i += 1
    while i < len(text) and text[i] != quote:
        if text[i] == "\\":
            i += 1
        i += 1
    return i + 1


def split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments of a call's argument text."""
    out: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(text):
        c = text[i]
        if c in "\"'":
            i = _skip_string(text, i)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
        i += 1
    tail = text[start:].strip()
    if tail or out:
        out.append(tail)
    return out


def c_string(expr: str) -> str | None:
    """The value of a C string literal expression (adjacent literals joined, ``_()`` and
    ``N_()`` unwrapped), or None when it is not one."""
    e = expr.strip()
    m = re.fullmatch(r"N?_\((.*)\)", e, re.S)
    if m:
        e = m.group(1).strip()
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', e)
    if not parts or re.sub(r'"((?:[^"\\]|\\.)*)"', "", e).strip():
        return None
    return "".join(parts).encode().decode("unicode_escape")


def functions(path: Path, label: str) -> list[Function]:
    """Every function definition of a libvirt source file."""
    raw = path.read_text(errors="replace")
    text = strip_comments(raw)
    out = []
    for m in _FUNC_HEAD.finditer(text):
        open_paren = m.end() - 1
        try:
            close_paren = matching(text, open_paren)
        except ValueError:
            continue
        after = text[close_paren + 1:close_paren + 40]
        if not re.match(r"\s*\n\{", after):
            continue  # a prototype, a macro use, a call at column 0
        brace = text.index("{", close_paren)
        end = text.find("\n}", brace)
        if end < 0:
            continue
        params = []
        for p in split_args(text[open_paren + 1:close_paren]):
            p = re.sub(r"\bG_GNUC_\w+\b", "", p).strip()
            pm = re.match(r"(.*?)([A-Za-z_][A-Za-z0-9_]*)\s*(\[\])?$", p, re.S)
            if pm:
                params.append((" ".join(pm.group(1).split()), pm.group(2)))
        out.append(Function(m.group(1), label, text.count("\n", 0, m.start()) + 1, params,
                            text[brace:end + 2], text.count("\n", 0, brace) + 1))
    return out


@dataclass
class EnumImpl:
    name: str
    last: str
    values: list[str | None]


def enum_impls(root: Path) -> dict[str, EnumImpl]:
    """Every ``VIR_ENUM_IMPL(name, LAST, "a", "b", ...)`` under ``root``."""
    out: dict[str, EnumImpl] = {}
    for path in sorted(root.rglob("*.c")):
        text = strip_comments(path.read_text(errors="replace"))
        for m in re.finditer(r"\bVIR_ENUM_IMPL\(", text):
            end = matching(text, m.end() - 1)
            args = split_args(text[m.end():end])
            if len(args) < 2:
                continue
            values: list[str | None] = []
            for a in args[2:]:
                if not a:
                    continue
                values.append(None if a == "NULL" else c_string(a))
            out[args[0]] = EnumImpl(args[0], args[1], values)
    return out


def enum_constants(root: Path) -> dict[str, tuple[str, int]]:
    """``CONSTANT -> (LAST constant of its enum, position)`` for every C ``enum { ... }`` under
    ``root`` whose members take their default values (as libvirt's string-table enums do)."""
    out: dict[str, tuple[str, int]] = {}
    for path in sorted([*root.rglob("*.h"), *root.rglob("*.c")]):
        text = strip_comments(path.read_text(errors="replace"))
        for m in re.finditer(r"\benum\s*[A-Za-z_0-9]*\s*\{", text):
            end = matching(text, m.end() - 1, "{", "}")
            members = [a.split("=")[0].strip() for a in split_args(text[m.end():end])]
            members = [x for x in members if re.fullmatch(r"[A-Z_][A-Z0-9_]*", x)]
            explicit = re.findall(r"=\s*([^,]+)", text[m.end():end])
            if not members:
                continue
            if explicit and not all(re.fullmatch(r"\s*0\s*", e) for e in explicit):
                continue
            last = members[-1]
            for i, name in enumerate(members):
                out.setdefault(name, (last, i))
    return out


@dataclass
class Block:
    """An ``if`` with its condition and the extent it governs (the condition included), or
    its ``else`` branch (``negated``: the extent runs when the condition is false)."""

    cond: str
    start: int
    cond_end: int
    end: int
    negated: bool = False


@dataclass
class Case:
    """A ``case``/``default`` group of a ``switch``: the labels and where their code runs."""

    switch_expr: str
    labels: list[str]
    start: int
    end: int
    all_labels: list[str] = field(default_factory=list)


@dataclass
class Structure:
    ifs: list[Block] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)

    def blocks_at(self, pos: int) -> list[Block]:
        return [b for b in self.ifs if b.start <= pos < b.end]

    def cases_at(self, pos: int) -> list[Case]:
        return [c for c in self.cases if c.start <= pos < c.end]


def _statement_end(body: str, pos: int, with_else: bool = True) -> int:
    """The end of the statement starting at ``pos``: a block, or up to its ``;``."""
    i = pos
    while i < len(body) and body[i].isspace():
        i += 1
    if i < len(body) and body[i] == "{":
        return matching(body, i, "{", "}") + 1
    m = re.match(r"(if|for|while|switch)\s*\(", body[i:])
    if m:
        close = matching(body, i + m.end() - 1)
        end = _statement_end(body, close + 1)
        if m.group(1) == "if" and with_else:
            m2 = re.match(r"\s*else\b", body[end:])
            if m2:
                end = _statement_end(body, end + m2.end())
        return end
    depth = 0
    while i < len(body):
        c = body[i]
        if c in "\"'":
            i = _skip_string(body, i)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == ";" and depth == 0:
            return i + 1
        i += 1
    return i


def structure(body: str) -> Structure:
    """The ``if`` blocks (condition and governed statement) and the ``case`` groups of a
    function body."""
    out = Structure()
    for m in re.finditer(r"\bif\s*\(", body):
        open_paren = m.end() - 1
        close = matching(body, open_paren)
        end = _statement_end(body, close + 1, with_else=False)
        cond = " ".join(body[open_paren + 1:close].split())
        out.ifs.append(Block(cond, m.start(), close + 1, end))
        m2 = re.match(r"\s*else\b", body[end:])
        if m2:
            else_start = end + m2.end()
            out.ifs.append(Block(cond, else_start, else_start,
                                 _statement_end(body, else_start), negated=True))
    for m in re.finditer(r"\bswitch\s*\(", body):
        open_paren = m.end() - 1
        close = matching(body, open_paren)
        expr = " ".join(body[open_paren + 1:close].split())
        brace = body.index("{", close)
        brace_end = matching(body, brace, "{", "}")
        inner = body[brace + 1:brace_end]
        # labels at this switch's depth only
        depth = 0
        labels: list[tuple[int, int, str]] = []  # (start, end of label, label)
        i = 0
        while i < len(inner):
            c = inner[i]
            if c in "\"'":
                i = _skip_string(inner, i)
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            elif depth == 0:
                lm = re.match(r"\b(case\s+([^:]+?)|default)\s*:(?!:)", inner[i:])
                if lm and (i == 0 or not (inner[i - 1].isalnum() or inner[i - 1] == "_")):
                    label = lm.group(2).strip() if lm.group(2) else "default"
                    labels.append((i, i + lm.end(), label))
                    i += lm.end()
                    continue
            i += 1
        group: list[str] = []
        every = [label for _, _, label in labels]
        for k, (_, lend, label) in enumerate(labels):
            group.append(label)
            nxt = labels[k + 1][0] if k + 1 < len(labels) else len(inner)
            code = inner[lend:nxt]
            if code.strip() == "":
                continue  # falls through to the next label
            out.cases.append(Case(expr, group, brace + 1 + lend, brace + 1 + nxt, every))
            group = []
    return out


def calls(body: str, name_pattern: str) -> list[tuple[str, int, int, list[str]]]:
    """(name, start, end, args) of every call whose name matches ``name_pattern``."""
    out = []
    for m in re.finditer(rf"\b({name_pattern})\s*\(", body):
        open_paren = m.end() - 1
        try:
            close = matching(body, open_paren)
        except ValueError:
            continue
        out.append((m.group(1), m.start(), close + 1, split_args(body[open_paren + 1:close])))
    return out


def enclosing_block_end(body: str, pos: int) -> int:
    """The offset just after the ``}`` closing the innermost block around ``pos``."""
    depth = 0
    i = pos
    while i > 0:
        i -= 1
        c = body[i]
        if c == "}":
            depth += 1
        elif c == "{":
            if depth == 0:
                return matching(body, i, "{", "}") + 1
            depth -= 1
    return len(body)
