#!/usr/bin/env python3
"""Generate ``augmenter/data/parse_rules.json``: every value libvirt's domain parser refuses.

Usage: ``python scripts/gen_parse_rules.py /path/to/libvirt-9.0.0 [-o FILE] [--report]``

libvirt 9.0 reads a domain definition in ``virDomainDefParseXML`` (``src/conf/domain_conf.c``)
and the functions it calls (``cpu_conf.c``, ``numa_conf.c``, ``netdev_*_conf.c``, ...). Each value
it reads as an enum, a boolean or a number is read by one of a few helpers (``virXMLPropEnum``,
``virXMLPropTristateBool``, ``virXMLPropUInt``, ``virXPathULongLong``, ``virStrToLong_*``,
``virDomainParseMemory``, ``*TypeFromString``...), and a value the helper cannot read makes the
whole definition fail with a fixed message. This script finds those call sites, works out which
element each one reads (by following ``ctxt->node``, ``virXPathNode`` and ``virXPathNodeSet``
from ``virDomainDefParseXML`` down through the calls, with the parse flags of ``virsh define``),
the conditions around it (a ``switch`` on a type libvirt read before, a parse flag), and the
helper's rules (the enum's strings from ``VIR_ENUM_IMPL``, the number's base, sign and width),
and writes them as data.

Where the C code is not regular enough to follow, ``CURATED`` below says what the code does, each
entry with the function it stands for. ``--report`` lists the call sites found and how each was
resolved, and the ones left out, for review.

The table is data the package reads (``augmenter/policy/parse_rules.py``); CI does not run this
script (it needs libvirt's sources), ``tests/test_parse_rules.py`` checks the table instead.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cscan

from augmenter.policy.parse_rules import FIELDS, entry_key, expand, expanded

LIBVIRT_VERSION = "9.0.0"
OUT = Path(__file__).resolve().parent.parent / "augmenter" / "data" / "parse_rules.json"

# The files whose functions the domain parser calls.
FILES = (
    "src/conf/domain_conf.c", "src/conf/device_conf.c", "src/conf/cpu_conf.c",
    "src/conf/numa_conf.c", "src/conf/storage_source_conf.c",
    "src/conf/storage_encryption_conf.c", "src/conf/netdev_bandwidth_conf.c",
    "src/conf/netdev_vlan_conf.c", "src/conf/netdev_vport_profile_conf.c",
    "src/conf/network_conf.c", "src/conf/networkcommon_conf.c", "src/conf/virnetworkportdef.c",
    "src/conf/nwfilter_params.c", "src/util/virxml.c",
)
# virsh define: qemuDomainDefineXMLFlags parses with these flags.
DEFINE_FLAGS = frozenset({"VIR_DOMAIN_DEF_PARSE_INACTIVE", "VIR_DOMAIN_DEF_PARSE_ABI_UPDATE"})

# The helpers that refuse a value; the rest of the call is read per helper below.
PROP_ENUM = {"virXMLPropEnum", "virXMLPropEnumDefault"}
PROP_BOOL = {"virXMLPropTristateBool": "virTristateBool",
             "virXMLPropTristateBoolAllowDefault": "virTristateBool",
             "virXMLPropTristateSwitch": "virTristateSwitch"}
PROP_NUMBER = {"virXMLPropInt": "int", "virXMLPropUInt": "uint", "virXMLPropLongLong": "llong",
               "virXMLPropULongLong": "ullong"}
XPATH_NUMBER = {"virXPathInt": ("int", 10), "virXPathUInt": ("uint", 10),
                "virXPathUIntBase": ("uint", None), "virXPathLong": ("long", 10),
                "virXPathULong": ("ulong", 10), "virXPathLongLong": ("llong", 10),
                "virXPathULongLong": ("ullong", 10), "virXPathULongLongBase": ("ullong", None)}
# virStrToLong_X: the C type it reads, and whether a '-' is refused ("p") or wraps around
STRTOL = {"virStrToLong_i": ("int", "signed"), "virStrToLong_ui": ("uint", "wrap"),
          "virStrToLong_uip": ("uint", "unsigned"), "virStrToLong_l": ("long", "signed"),
          "virStrToLong_ul": ("ulong", "wrap"), "virStrToLong_ulp": ("ulong", "unsigned"),
          "virStrToLong_ll": ("llong", "signed"), "virStrToLong_ull": ("ullong", "wrap"),
          "virStrToLong_ullp": ("ullong", "unsigned")}
# every helper that reads a value and may refuse it
READERS = {*PROP_ENUM, *PROP_BOOL, *PROP_NUMBER, *XPATH_NUMBER, *STRTOL, "virDomainParseMemory",
           "virParseScaledValue", "virDomainParseMemoryLimit", "virStringParseYesNo"}
# the C types as (signed, bits) on x86_64 Linux
CTYPES = {"int": (True, 32), "uint": (False, 32), "long": (True, 64), "ulong": (False, 64),
          "llong": (True, 64), "ullong": (False, 64)}

# Messages of the virxml.c helpers (virXMLPropEnumInternal, virXMLPropUInt, ...), with
# {attr}, {element} and {value} for the C arguments.
INVALID_ENUM = "Invalid value for attribute '{attr}' in element '{element}': '{value}'."
MISSING = "Missing required attribute '{attr}' in element '{element}'"
ZERO = "Invalid value for attribute '{attr}' in element '{element}': Zero is not permitted"
NUMBER_MESSAGES = {
    "int": "Invalid value for attribute '{attr}' in element '{element}': '{value}'. "
           "Expected integer value",
    "uint": "Invalid value for attribute '{attr}' in element '{element}': '{value}'. "
            "Expected non-negative integer value",
    "llong": "Invalid value for attribute '{attr}' in element '{element}': '{value}'. "
             "Expected long long integer value",
    "ullong": "Invalid value for attribute '{attr}' in element '{element}': '{value}'. "
              "Expected non-negative integer value",
}
NEGATIVE = ("Invalid value for attribute '{attr}' in element '{element}': '{value}'. "
            "Expected non-negative value")
# virParseScaledValue and virScaleInteger (src/util/virxml.c, virutil.c)
SCALED_INVALID = "Invalid value '{value}' for element or attribute '{xpath}'"
SCALED_SUFFIX = "unknown suffix '{unit}'"
SCALED_OVERFLOW = "value too large: {value}{unit}"
MEMORY_TOO_LARGE = "size value too large"


# ---- paths ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One element of a context: its name, whether only the first of that name counts
    (``virXPathNode`` returns the first match), and conditions on its attributes."""

    tag: str
    first: bool = False
    preds: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def text(self) -> str:
        out = self.tag + ("[1]" if self.first else "")
        for attr, values in self.preds:
            out += f"[@{attr}={'|'.join(values)}]"
        return out

    def where(self, attr: str, values: Iterable[str]) -> Step:
        """This step with the condition attr in values (intersected with one already there)."""
        vals = tuple(sorted(set(values)))
        preds = dict(self.preds)
        if attr in preds:
            vals = tuple(v for v in preds[attr] if v in vals)
        preds[attr] = vals
        return Step(self.tag, self.first, tuple(sorted(preds.items())))


Path_ = tuple[Step, ...]


def path_text(path: Path_) -> str:
    return "/".join(s.text() for s in path)


_XP_STEP = re.compile(r"([A-Za-z_*][A-Za-z0-9_.-]*|\*)((?:\[[^]]*\])*)")


def parse_xpath(xp: str) -> tuple[list[Step], str | None] | None:
    """(element steps, attribute or '#text') of a libvirt XPath such as
    ``string(./os/type[1]/@arch)``, ``./devices/disk`` or ``./sysinfo[@type='smbios']``.
    None for a path this reader does not follow (``..``, unions)."""
    x = xp.strip()
    m = re.fullmatch(r"string\((.*)\)", x)
    if m:
        x = m.group(1).strip()
    if "|" in x or ".." in x:
        return None
    x = x.removeprefix("./").removeprefix(".")
    x = x.removeprefix("/")
    steps: list[Step] = []
    attr: str | None = "#text" if m else None
    if not x:
        return steps, attr
    for part in x.split("/"):
        if part.startswith("@"):
            attr = part[1:]
            break
        sm = _XP_STEP.fullmatch(part)
        if sm is None:
            return None
        step = Step(sm.group(1))
        for pred in re.findall(r"\[([^]]*)\]", sm.group(2)):
            if pred.strip() == "1":
                step = Step(step.tag, True, step.preds)
                continue
            pm = re.fullmatch(r"\s*@([\w-]+)\s*=\s*['\"]([^'\"]*)['\"]\s*", pred)
            if pm is None:
                return None
            step = step.where(pm.group(1), [pm.group(2)])
        steps.append(step)
    return steps, attr


def join(base: Path_, steps: list[Step], first: bool) -> Path_ | None:
    """``base`` followed by ``steps``; with ``first`` (a virXPathNode), only the first match
    counts. Paths that repeat an element too often (recursion) are cut."""
    out = list(base)
    for i, s in enumerate(steps):
        if first and i == len(steps) - 1:
            s = Step(s.tag, True, s.preds)
        if out and out[-1].tag == s.tag:
            return None  # <backingStore> in <backingStore>: the first level only
        out.append(s)
    if len(out) > 14:
        return None
    return tuple(out)


# ---- what the parser refuses --------------------------------------------------------------------


@dataclass
class Rule:
    """One value libvirt refuses: where, what kind, and its words."""

    func: str
    line: int
    path: Path_
    attr: str  # an attribute, or "#text"
    kind: str  # enum | number | scaled
    spec: dict[str, object]
    message: str  # with {attr} {element} {value} ...
    required: bool = False
    empty_is_absent: bool = False  # read through XPath: an empty string is no value

    def key(self) -> tuple[str, str, str]:
        return (path_text(self.path), self.attr, json.dumps(self.spec, sort_keys=True))


@dataclass
class Unresolved:
    func: str
    line: int
    what: str


@dataclass(frozen=True)
class Field:
    """What a struct field (``def->type``) holds: the value of an attribute read as an enum."""

    paths: tuple[Path_, ...]
    attr: str
    enum: str
    default: str | None  # the value an absent attribute stands for


@dataclass(frozen=True)
class Invocation:
    """One way a function is reached: the element each node parameter is, where the XPath
    context points, and the parse flags."""

    func: str
    nodes: tuple[tuple[str, Path_], ...]
    ctxt: Path_ | None
    flags: frozenset[str]
    strings: tuple[tuple[str, str], ...] = ()  # parameters given a literal (or a function)
    fields: tuple[tuple[str, Field], ...] = ()  # struct fields the caller read from attributes
    consts: tuple[tuple[str, str], ...] = ()  # parameters given an enum constant
    values: tuple[tuple[str, tuple[tuple[Path_, str], ...]], ...] = ()  # ... a value read


@dataclass
class Source:
    funcs: dict[str, cscan.Function]
    enums: dict[str, cscan.EnumImpl]
    constants: dict[str, tuple[str, int]]
    by_last: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_last = {e.last: name for name, e in self.enums.items()}

    def constant_value(self, const: str) -> str | None:
        """The string of an enum constant (``VIR_DOMAIN_DISK_BUS_SATA`` -> ``sata``)."""
        hit = self.constants.get(const)
        if hit is None:
            return None
        last, pos = hit
        name = self.by_last.get(last)
        if name is None:
            return None
        values = self.enums[name].values
        return values[pos] if pos < len(values) else None

    def enum_of(self, from_string: str) -> str | None:
        name = from_string.removesuffix("TypeFromString")
        return name if name in self.enums else None


def _arch_names(root: Path) -> list[str | None]:
    """The architectures of virArchData (src/util/virarch.c), in order."""
    text = (root / "src/util/virarch.c").read_text()
    table = text[text.index("virArchData[]"):]
    table = table[:table.index("};")]
    return [m.group(1) for m in re.finditer(r'\{\s*"([^"]+)"', table)]


def load(root: Path) -> Source:
    funcs: dict[str, cscan.Function] = {}
    for rel in FILES:
        for f in cscan.functions(root / rel, Path(rel).name):
            funcs.setdefault(f.name, f)
    enums = cscan.enum_impls(root / "src")
    # string tables written as code rather than VIR_ENUM_IMPL
    enums["virArch"] = cscan.EnumImpl("virArch", "VIR_ARCH_LAST", _arch_names(root))
    # virDomainChrSourceModeTypeFromString (domain_conf.c): "connect" or "bind"
    enums["virDomainChrSourceMode"] = cscan.EnumImpl("virDomainChrSourceMode", "",
                                                     ["connect", "bind"])
    return Source(funcs, enums, cscan.enum_constants(root / "src"))


# C arguments of a message that are no value of the element: what they stand for, as a
# placeholder checks/values.py fills from the document (the nearest <cell>'s id).
MESSAGE_ARGUMENTS = {"{cur_cell}": "{ancestor:cell@id}"}

# The values of the macros libvirt compares numbers with, where the C code says a name.
MACROS = {"UINT_MAX": 2**32 - 1, "INT_MAX": 2**31 - 1, "ULLONG_MAX": 2**64 - 1,
          "LLONG_MAX": 2**63 - 1, "UCHAR_MAX": 255, "USHRT_MAX": 65535,
          "VIR_DOMAIN_BLKIOTUNE_WEIGHT_MAX": 1000}


def _evaluate(expr: str) -> int | None:
    """The value of a constant C expression of numbers and MACROS (``1024ULL * ULONG_MAX``)."""
    e = re.sub(r"(\d+)U?L?L?\b", r"\1", expr.strip())
    for name, value in {**MACROS, "ULONG_MAX": 2**64 - 1}.items():
        e = re.sub(rf"\b{name}\b", str(value), e)
    if not re.fullmatch(r"[\d\s*+\-()<>]+", e):
        return None
    return int(eval(e))  # digits and operators only, checked above


def _constant(text: str) -> int | None:
    t = text.strip()
    if re.fullmatch(r"0x[0-9a-fA-F]+", t):
        return int(t, 16)
    if re.fullmatch(r"0[0-7]+", t):
        return int(t, 8)  # C: a leading 0 is octal
    if t.isdigit():
        return int(t)
    return MACROS.get(t)


# ---- following the parser -----------------------------------------------------------------------

_CALL_NAMES = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_ASSIGN_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_>.\-\[\]]*)\s*=\s*\(?\s*$")
_CAST = re.compile(r"^\(\s*[A-Za-z_][A-Za-z0-9_ ]*\s*\*?\s*\)\s*")
_FAIL = re.compile(r"\breturn\s+(-1|NULL|-2)\b|\bgoto\s+(error|cleanup|fail)\b|"
                   r"\breturn\s+ret\b")


def _strip_cast(expr: str) -> str:
    e = expr.strip()
    while True:
        m = _CAST.match(e)
        if not m or m.end() == len(e):
            return e
        e = e[m.end():].strip()


def _strip_ref(expr: str) -> str:
    return _strip_cast(expr).lstrip("&").strip()


Where = list[tuple[Path_, str]]  # the (element, attribute) places a value may come from


def _same_tags(a: Iterable[Step], b: Iterable[Step]) -> bool:
    """Whether two paths name the same elements (``*`` matches any name)."""
    return all(x.tag == y.tag or "*" in (x.tag, y.tag) for x, y in zip(a, b, strict=True))


def _named(step: Step) -> Step:
    """``*[@#name=smm]`` is ``smm``."""
    preds = dict(step.preds)
    names = preds.get("#name")
    if step.tag == "*" and names is not None and len(names) == 1:
        del preds["#name"]
        return Step(names[0], step.first, tuple(sorted(preds.items())))
    return step


class Walker:
    """Follows one invocation of one function, event by event in the order of the text."""

    def __init__(self, src: Source, inv: Invocation, curated: Curation) -> None:
        self.src = src
        self.inv = inv
        self.cur = curated
        self.f = src.funcs[inv.func]
        self.body = self.f.body
        self.st = cscan.structure(self.body)
        self.nodes: dict[str, list[Path_]] = {k: [v] for k, v in inv.nodes}
        self.strings = dict(inv.strings)
        self.strs: dict[str, Where] = {k: list(v) for k, v in inv.values}
        self.fields: dict[str, Field] = dict(inv.fields)
        self.via_xpath: set[str] = set()  # string variables read by virXPathString
        self.consts: dict[str, str] = dict(inv.consts)  # variables holding a known constant
        self.ctx: list[Path_] = [inv.ctxt] if inv.ctxt is not None else []
        self.rules: list[Rule] = []
        self.calls: list[Invocation] = []
        self.unresolved: list[Unresolved] = []
        for expr, (param, up, attr, enum, default) in curated.fields.get(inv.func, {}).items():
            if self.nodes.get(param) and expr not in self.fields:
                paths = tuple(p[:len(p) - up] for p in self.nodes[param])
                self.fields[expr] = Field(paths, attr, enum, default)

    # -- where things are

    def line(self, pos: int) -> int:
        return self.f.line_at(pos)

    def note(self, pos: int, what: str) -> None:
        self.unresolved.append(Unresolved(self.f.name, self.line(pos), what))

    def literal(self, expr: str) -> str | None:
        """A C string: a literal, or a parameter the caller passed a literal for."""
        lit = cscan.c_string(expr)
        return lit if lit is not None else self.strings.get(expr.strip())

    def _xpath_nodes(self, xp: str, first: bool) -> list[Path_]:
        out = []
        for alt in xp.split("|"):
            parsed = parse_xpath(alt)
            if parsed is None or parsed[1] is not None:
                continue
            for start in self.ctx:
                p = join(start, parsed[0], first)
                if p is not None:
                    out.append(p)
        return out

    def node(self, expr: str) -> list[Path_]:
        """The elements a C expression may stand for."""
        e = _strip_ref(expr)
        if e == "ctxt->node":
            return list(self.ctx)
        m = re.fullmatch(r"virXPathNode\((.*)\)", e, re.S)
        if m:
            args = cscan.split_args(m.group(1))
            xp = self.literal(args[0]) if args else None
            return self._xpath_nodes(xp, True) if xp is not None else []
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*\[[^]]+\]", e)
        if m:
            e = m.group(1)
        m = re.fullmatch(r"(.+)->children", e)
        if m:  # a walk over the children: virXMLNodeNameEqual tests say which
            return [(*p, Step("*")) for p in self.node(m.group(1))]
        return list(self.nodes.get(e, []))

    def value(self, expr: str) -> Where:
        """The (element, attribute) places a C string expression was read from."""
        e = _strip_ref(expr)
        m = re.fullmatch(r"\(\s*const\s+char\s*\*\s*\)\s*(.*)", e)
        if m:
            return self.value(m.group(1))
        m = re.fullmatch(r"(.*)->name", e)
        if m:  # an element's own name
            return [(p, "#name") for p in self.node(m.group(1))]
        return list(self.strs.get(e, []))

    def _xpath_value(self, xp: str | None) -> Where:
        out: Where = []
        if xp is None:
            return out
        for alt in xp.split("|"):
            parsed = parse_xpath(alt if alt.strip().startswith("string(") else f"string({alt})")
            if parsed is None or parsed[1] is None:
                continue
            for start in self.ctx:
                p = join(start, parsed[0], True)
                if p is not None:
                    out.append((p, parsed[1]))
        return out

    # -- conditions

    def flag_ok(self, cond: str, negated: bool) -> bool:
        """Whether code under ``cond`` (or its else) runs with the invocation's flags. Only
        a conjunction whose flag tests decide it is judged; anything else may run."""
        if "||" in cond:
            return True
        verdicts: list[bool | None] = []
        for p in cond.split("&&"):
            p2 = p.strip()
            m = re.fullmatch(r"!\s*\(\s*flags\s*&\s*(VIR_\w+)\s*\)\)?", p2)
            if m:
                verdicts.append(m.group(1) not in self.inv.flags)
                continue
            m = re.fullmatch(r"\(*\s*flags\s*&\s*(VIR_\w+)\s*\)?", p2)
            if m:
                verdicts.append(m.group(1) in self.inv.flags)
                continue
            m = re.fullmatch(r"\(*\s*([\w>.\-]+)\s*(==|!=)\s*(VIR_\w+)\s*\)*", p2)
            if m and m.group(1) in self.consts:
                # a variable the caller set to a constant (virCPUDefParseXML's type)
                verdicts.append((self.consts[m.group(1)] == m.group(3)) == (m.group(2) == "=="))
                continue
            verdicts.append(None)
        known = [v for v in verdicts if v is not None]
        if not known:
            return True
        if negated:
            # the else runs when the condition fails: only known when it is all flag tests
            return True if len(known) != len(verdicts) else not all(known)
        return all(known)

    def runs(self, pos: int) -> bool:
        for b in self.st.blocks_at(pos):
            if b.negated or pos >= b.cond_end:
                if not self.flag_ok(b.cond, b.negated):
                    return False
            elif re.search(r"flags\s*&\s*VIR_\w+", self.body[b.start:pos]) and not (
                    self.flag_ok(b.cond, False)):
                # in ``if (flags & X && f(...))`` f runs only when the flag test passed
                return False
        return True

    def predicates(self, pos: int) -> list[tuple[Field, list[str]]]:
        """Conditions on attributes around ``pos``: the cases of a switch on a field read from
        an attribute, and ``if (field == CONST)`` tests."""
        out: list[tuple[Field, list[str]]] = []
        for case in self.st.cases_at(pos):
            fld = self.fields.get(_strip_cast(case.switch_expr))
            if fld is None:
                continue
            if "default" in case.labels:
                others = {self.src.constant_value(lb) for lb in case.all_labels
                          if lb != "default" and lb not in case.labels}
                values = [v for v in self.src.enums[fld.enum].values
                          if v is not None and v not in others]
            else:
                values = [v for v in (self.src.constant_value(lb) for lb in case.labels)
                          if v is not None]
            out.append((fld, values))
        for b in self.st.blocks_at(pos):
            if pos < b.cond_end:
                continue
            out += self.tests(b.cond, b.negated)
        for guard in self.guards(pos):
            out += self.tests(guard, True)
        return out

    _TEST = re.compile(r"\(*\s*\*?([\w>.\-]+)\s*(==|!=)\s*(VIR_\w+)\s*\)*")

    def tests(self, cond: str, negated: bool) -> list[tuple[Field, list[str]]]:
        """The conditions ``cond`` (or, ``negated``, its failure) puts on fields: a
        conjunction of ``field ==/!= CONST`` tests, or a disjunction of ``==`` tests of one
        field."""
        out: list[tuple[Field, list[str]]] = []
        if "||" not in cond:
            out += self.presence(cond, negated)
        if "||" in cond:
            if "&&" in cond:
                return out
            found = [self._TEST.fullmatch(p.strip()) for p in cond.split("||")]
            if not all(m is not None and m.group(2) == "==" for m in found):
                return out
            names = {m.group(1) for m in found if m is not None}
            fld = self.fields.get(names.pop()) if len(names) == 1 else None
            if fld is None:
                return out
            values = [v for m in found if m is not None
                      and (v := self.src.constant_value(m.group(3))) is not None]
            every = [v for v in self.src.enums[fld.enum].values if v is not None]
            out.append((fld, [v for v in every if v not in values] if negated else values))
            return out
        parts = cond.split("&&")
        if negated and len(parts) > 1:
            return out
        for part in parts:
            m = self._TEST.fullmatch(part.strip())
            if not m:
                continue
            fld = self.fields.get(m.group(1))
            value = self.src.constant_value(m.group(3))
            if fld is None or value is None:
                continue
            equal = (m.group(2) == "==") != negated
            every = [v for v in self.src.enums[fld.enum].values if v is not None]
            out.append((fld, [value] if equal else [v for v in every if v != value]))
        return out

    def presence(self, cond: str, negated: bool) -> list[tuple[Field, list[str]]]:
        """Conditions on an attribute being written: ``if (tmp)``, ``if (!def->passwd)
        return 0;`` on a string read by virXMLPropString. ``*`` stands for any value written,
        ``''`` for none."""
        parts = cond.split("&&")
        if negated and len(parts) > 1:
            return []
        out: list[tuple[Field, list[str]]] = []
        for part in parts:
            p = part.strip()
            m = re.fullmatch(r"\(*\s*(!?)\s*([\w>.\-]+)\s*(?:(==|!=)\s*NULL)?\s*\)*", p)
            if m is None or m.group(2) not in self.strs or not self.strs[m.group(2)]:
                continue
            where = self.strs[m.group(2)]
            written = (m.group(1) == "") == (m.group(3) != "==")
            if negated:
                written = not written
            fld = Field(tuple(w for w, _ in where), where[0][1], "", None)
            out.append((fld, ["*"] if written else [""]))
        return out

    _GUARD = re.compile(r"\bif\s*\(")

    def guards(self, pos: int) -> list[str]:
        """Conditions of ``if (cond) break;`` (or ``continue``, ``return 0``) before ``pos`` that
        leave the code ``pos`` is in when they hold."""
        out = []
        cases = self.st.cases_at(pos)
        block_end = cscan.enclosing_block_end(self.body, pos)
        for b in self.st.ifs:
            if b.negated or b.end > pos:
                continue
            stmt = self.body[b.cond_end:b.end].strip().strip("{}").strip()
            m = re.fullmatch(r"(break|continue|return\s+0)\s*;", stmt)
            if m is None:
                continue
            if m.group(1) == "break":
                if not any(c.start <= b.start < c.end for c in cases):
                    continue  # a break out of another case, or out of a loop
            elif m.group(1) == "continue" and (
                    cscan.enclosing_block_end(self.body, b.start) != block_end):
                continue
            out.append(b.cond)
        return out

    def tag_tests(self, pos: int) -> list[tuple[list[Path_], str]]:
        """``virXMLNodeNameEqual(var, "tag")`` conditions around ``pos`` (not in an else)."""
        out = []
        for b in self.st.blocks_at(pos):
            if b.negated or pos < b.cond_end or "||" in b.cond:
                continue
            for m in re.finditer(r'(?<!!)virXMLNodeNameEqual\(([^,]+),\s*"([^"]+)"\)', b.cond):
                out.append((self.node(m.group(1)), m.group(2)))
        return out

    def place(self, path: Path_, pos: int, strict: bool = True) -> Path_ | None:
        """``path`` with the conditions at ``pos`` on its elements; None when they exclude
        every value, or (``strict``, for a rule) when one cannot be stated on the path."""
        steps = list(path)
        for fld, values in self.predicates(pos):
            vals = list(values)
            if fld.enum:  # else a condition on the attribute being written at all
                every = {v for v in self.src.enums[fld.enum].values if v is not None}
                if every <= set(values):
                    continue  # no condition at all
                if fld.default is not None and fld.default in vals:
                    vals.append("")
            for fpath in fld.paths:
                n = len(fpath)
                if 0 < n <= len(steps) and _same_tags(steps[:n], fpath):
                    at, attr = n - 1, fld.attr
                elif 1 < n <= len(steps) + 1 and _same_tags(steps[:n - 1], fpath[:-1]) and (
                        fpath[-1].tag != "*" and fld.attr != "#name"):
                    # an attribute of a child of an element of the path (<model type>)
                    at, attr = n - 2, f"{fpath[-1].tag}@{fld.attr}"
                else:
                    continue
                steps[at] = steps[at].where(attr, vals)
                if not dict(steps[at].preds)[attr]:
                    return None
                steps[at] = _named(steps[at])
                break
            else:
                if strict:
                    # a condition on an element that is neither on the path nor a child of
                    # it: a context cannot say it, so the rule is left out rather than
                    # applied where libvirt does not apply it
                    return None
        tags = [s.tag for s in steps]
        for paths, tag in self.tag_tests(pos):
            for vpath in paths:
                n = len(vpath)
                if n > len(steps) or [s.tag for s in vpath[:-1]] != tags[:n - 1]:
                    continue
                if steps[n - 1].tag == "*":
                    steps[n - 1] = Step(tag, steps[n - 1].first, steps[n - 1].preds)
                elif steps[n - 1].tag != tag:
                    return None
        return tuple(steps)

    # -- the walk

    def walk(self) -> None:
        events: list[tuple[int, str, re.Match[str]]] = []
        for m in re.finditer(r"\bctxt->node\s*=(?!=)", self.body):
            events.append((m.start(), "ctx", m))
        for m in re.finditer(r"(?<![\w>.])([A-Za-z_]\w*)\s*=(?!=)\s*([A-Za-z_][\w>\-]*(?:\[\w+\])?)"
                             r"\s*;", self.body):
            events.append((m.start(), "alias", m))
        for m in _CALL_NAMES.finditer(self.body):
            events.append((m.start(), "call", m))
        for m in re.finditer(r"(?<![\w>.])([A-Za-z_][\w>.\-]*)\s*=(?!=)\s*(\w+)\s*;",
                             self.body):
            events.append((m.start(), "const", m))
        for m in re.finditer(r"\bVIR_XPATH_NODE_AUTORESTORE\(ctxt\)", self.body):
            # the context node comes back when the block around it ends
            events.append((m.start(), "save", m))
            events.append((cscan.enclosing_block_end(self.body, m.start()) - 1, "restore", m))
        events.sort(key=lambda e: e[0])
        saved: dict[int, list[Path_]] = {}
        for pos, kind, m in events:
            if kind == "save":
                saved[m.start()] = list(self.ctx)
                continue
            if kind == "restore":
                self.ctx = saved.get(m.start(), self.ctx)
                continue
            if kind == "reset":
                self.ctx = saved.get(-pos, self.ctx)
                continue
            if not self.runs(pos):
                continue
            if kind == "ctx":
                before = list(self.ctx)
                self.ctx = self.node(self._expression_after(m.end()))
                cases = self.st.cases_at(pos)
                if cases:
                    # set in one case of a switch: the other cases never see it
                    end = min(c.end for c in cases)
                    events.append((end, "reset", m))
                    events.sort(key=lambda e: e[0])
                    saved[-end] = before
            elif kind == "const":
                rhs = m.group(2)
                if re.fullmatch(r"VIR_[A-Z0-9_]+", rhs):
                    self.consts[m.group(1)] = rhs
                elif rhs in self.consts:
                    self.consts[m.group(1)] = self.consts[rhs]
                else:
                    self.consts.pop(m.group(1), None)
            elif kind == "alias":
                found = [p2 for p in self.node(m.group(2))
                         if (p2 := self.place(p, pos, strict=False)) is not None]
                if found:
                    self.nodes[m.group(1)] = found
            else:
                self.on_call(m.group(1), pos, m.end() - 1)
        for extra in self.cur.extra.get(self.f.name, []):
            pos = self.body.index(extra.anchor)
            for path in self.node(extra.node):
                self.rule(pos, path, extra.attr, extra.kind, extra.spec, extra.message,
                          required=extra.kind == "required")

    def _expression_after(self, pos: int) -> str:
        """The expression from ``pos`` to the ``;`` or the ``)`` that closes around it."""
        depth = 0
        i = pos
        while i < len(self.body):
            c = self.body[i]
            if c in "([":
                depth += 1
            elif c in ")]":
                if depth == 0:
                    break
                depth -= 1
            elif c == ";" and depth == 0:
                break
            i += 1
        return self.body[pos:i].strip()

    def assigned(self, pos: int) -> str | None:
        """The variable a call's result is assigned to (``x = f(...)``, ``(x = f(...))``)."""
        before = self.body[max(0, pos - 120):pos]
        m = _ASSIGN_BEFORE.search(before)
        if m and not before[:m.start()].rstrip().endswith(("=", "!", "<", ">")):
            return m.group(1)
        return None

    def on_call(self, name: str, pos: int, open_paren: int) -> None:
        try:
            close = cscan.matching(self.body, open_paren)
        except ValueError:
            return
        args = cscan.split_args(self.body[open_paren + 1:close])
        target = self.assigned(pos)
        name = self.strings.get(name, name)  # a function the caller passed
        if re.search(r"ignore_value\(\s*$", self.body[max(0, pos - 40):pos]) and (
                name in READERS or name.endswith("FromString")):
            return  # ignore_value(virXMLPropTristateBool(...)): a bad value is not refused
        if name == "virXPathNode" and target:
            xp = self.literal(args[0]) if args else None
            self.nodes[target] = self._xpath_nodes(xp, True) if xp is not None else []
        elif name == "virXPathNodeSet" and len(args) >= 3:
            xp = self.literal(args[0])
            self.nodes[_strip_ref(args[2])] = (self._xpath_nodes(xp, False)
                                               if xp is not None else [])
        elif name in ("xmlFirstElementChild", "xmlNextElementSibling") and target:
            if name == "xmlFirstElementChild":
                self.nodes[target] = [(*p, Step("*")) for p in self.node(args[0])]
        elif name in ("virXMLPropString", "virXMLPropStringRequired") and target:
            attr = cscan.c_string(args[1])
            # the conditions around the read hold wherever the value is looked at later
            self.strs[target] = [(p2, attr) for p in self.node(args[0])
                                 if (p2 := self.place(p, pos, strict=False)) is not None
                                 ] if attr else []
            if name == "virXMLPropStringRequired" and attr:
                for p in self.node(args[0]):
                    self.rule(pos, p, attr, "required", {}, MISSING, required=True)
        elif name == "virXPathString" and target:
            self.strs[target] = self._xpath_value(self.literal(args[0]))
            self.via_xpath.add(target)
        elif name == "virXMLNodeContentString" and target:
            self.strs[target] = [(p, "#text") for p in self.node(args[0])]
        elif name in PROP_ENUM or name in PROP_BOOL:
            self.prop_enum(name, pos, args)
        elif name in PROP_NUMBER:
            self.prop_number(name, pos, args)
        elif name in XPATH_NUMBER:
            self.xpath_number(name, pos, close, args)
        elif name in STRTOL:
            self.strtol(name, pos, close, args)
        elif name in ("virDomainParseMemory", "virParseScaledValue", "virDomainParseMemoryLimit"):
            self.scaled(name, pos, args)
        elif name in self.cur.enum_functions:
            self.custom_enum(name, pos, close, args)
        elif name.endswith("TypeFromString") and len(args) == 1:
            self.from_string(name, pos, close, args)
        elif name == "virStringParseYesNo":
            self.yes_no(pos, close, args)
        elif name in self.src.funcs and name not in self.cur.skip:
            self.invoke(name, pos, args)

    def invoke(self, name: str, pos: int, args: list[str]) -> None:
        callee = self.src.funcs[name]
        choices: list[list[tuple[str, Path_]]] = [[]]
        strings: list[tuple[str, str]] = []
        values: list[tuple[str, tuple[tuple[Path_, str], ...]]] = []
        consts: list[tuple[str, str]] = []
        ctxts: list[Path_ | None] = [None]
        flags = self.inv.flags
        for i, (ptype, pname) in enumerate(callee.params):
            if i >= len(args):
                break
            arg = args[i]
            if "xmlNodePtr" in ptype or "xmlNode *" in ptype:
                found = [p2 for p in self.node(arg)
                         if (p2 := self.place(p, pos, strict=False)) is not None]
                if found:
                    choices = [[*c, (pname, p)] for c in choices for p in found]
            elif "xmlXPathContext" in ptype:
                ctxts = [p2 for p in self.ctx
                         if (p2 := self.place(p, pos, strict=False)) is not None]
            elif pname == "flags" and "unsigned" in ptype:
                flags = self.flags_of(arg)
            elif re.fullmatch(r"VIR_[A-Z0-9_]+", arg.strip()):
                consts.append((pname, arg.strip()))
            elif arg.strip() in self.consts:
                consts.append((pname, self.consts[arg.strip()]))
            elif "char" in ptype and (lit := self.literal(arg)) is not None:
                strings.append((pname, lit))
            elif "char" in ptype and (read := self.value(arg)):
                placed = tuple((p2, a) for p, a in read
                               if (p2 := self.place(p, pos, strict=False)) is not None)
                if placed:
                    values.append((pname, placed))
            elif "Func" in ptype and re.fullmatch(r"\w+", arg.strip()):
                strings.append((pname, arg.strip()))
        passed = self.passed_fields(callee, args)
        for nodes in choices:
            for ctxt in ctxts:
                if nodes or ctxt is not None:
                    self.calls.append(Invocation(name, tuple(nodes), ctxt, flags,
                                                 strings=tuple(strings), values=tuple(values),
                                                 fields=passed, consts=tuple(consts)))

    def passed_fields(self, callee: cscan.Function,
                      args: list[str]) -> tuple[tuple[str, Field], ...]:
        """The fields the callee sees through a struct it is passed (``def->source`` given as
        ``def``: the caller's ``def->source->type`` is the callee's ``def->type``)."""
        out: dict[str, Field] = {}
        for i, (_, pname) in enumerate(callee.params):
            if i >= len(args):
                break
            arg = _strip_ref(args[i]).replace(".", "->")
            if not re.fullmatch(r"[\w>\-]+", arg):
                continue
            for key, fld in self.fields.items():
                k = key.replace(".", "->")
                if k.startswith(arg + "->"):
                    out[pname + k[len(arg):]] = fld
        return tuple(sorted(out.items(), key=lambda kv: kv[0]))

    def flags_of(self, expr: str) -> frozenset[str]:
        e = " ".join(expr.split())
        if e == "flags":
            return self.inv.flags
        out = set(self.inv.flags) if re.search(r"\bflags\b", e) else set()
        for m in re.finditer(r"(~?)\s*(VIR_DOMAIN_DEF_PARSE_\w+)", e):
            if m.group(1):
                out.discard(m.group(2))
            else:
                out.add(m.group(2))
        return frozenset(out)

    # -- the rules

    def rule(self, pos: int, path: Path_, attr: str, kind: str, spec: dict[str, object],
             message: str, required: bool = False, xpath: bool = False) -> None:
        placed = self.place(path, pos)
        if placed is None:
            return
        self.rules.append(Rule(self.f.name, self.line(pos), placed, attr, kind, spec, message,
                               required, xpath))

    def rules_at(self, pos: int, where: Where, kind: str, spec: dict[str, object],
                 message: str, var: str | None = None) -> None:
        xpath = var is None or _strip_ref(var) in self.via_xpath
        for path, attr in where:
            self.rule(pos, path, attr, kind, spec, message, xpath=xpath)

    def enum_spec(self, enum: str, exclude: list[str]) -> dict[str, object]:
        values = [v for v in self.src.enums[enum].values if v is not None]
        return {"enum": enum, "values": [v for v in values if v not in exclude]}

    def prop_enum(self, name: str, pos: int, args: list[str]) -> None:
        els = self.node(args[0])
        attr = cscan.c_string(args[1]) if len(args) > 1 else None
        if not els or attr is None:
            self.note(pos, f"{name}({', '.join(args[:2])}): element not followed")
            return
        if name in PROP_BOOL:
            enum, flags = PROP_BOOL[name], args[2]
            nonzero = name != "virXMLPropTristateBoolAllowDefault"
            if len(args) > 3:
                self.fields[_strip_ref(args[3])] = Field(tuple(els), attr, enum,
                                                         self.src.enums[enum].values[0])
        else:
            enum = self.src.enum_of(args[2]) or ""
            flags = args[3]
            nonzero = "VIR_XML_PROP_NONZERO" in flags
            if not enum:
                self.note(pos, f"{name}(..., {args[2]}): not an enum table")
                return
            default = self.src.enums[enum].values[0]
            if name == "virXMLPropEnumDefault" and len(args) > 5:
                default = self.src.constant_value(args[5].strip())
            self.fields[_strip_ref(args[4])] = Field(tuple(els), attr, enum, default)
        values = self.src.enums[enum].values
        exclude = [values[0]] if nonzero and values[0] is not None else []
        for el in els:
            self.rule(pos, el, attr, "enum", self.enum_spec(enum, exclude), INVALID_ENUM)
            if "VIR_XML_PROP_REQUIRED" in flags:
                self.rule(pos, el, attr, "required", {}, MISSING, required=True)

    def prop_number(self, name: str, pos: int, args: list[str]) -> None:
        els = self.node(args[0])
        attr = cscan.c_string(args[1]) if len(args) > 1 else None
        if not els or attr is None:
            self.note(pos, f"{name}({', '.join(args[:2])}): element not followed")
            return
        ctype = PROP_NUMBER[name]
        flags = args[3]
        signed, bits = CTYPES[ctype]
        msgs: dict[str, str] = {"invalid": NUMBER_MESSAGES[ctype]}
        spec: dict[str, object] = {"type": ctype, "base": int(args[2]),
                                   "sign": "signed" if signed else "unsigned", "bits": bits,
                                   "messages": msgs}
        if "VIR_XML_PROP_NONNEGATIVE" in flags and signed:
            spec["min"] = 0
            msgs["range"] = NEGATIVE
        if "VIR_XML_PROP_NONZERO" in flags:
            spec["nonzero"] = True
            msgs["zero"] = ZERO
        close = cscan.matching(self.body, self.body.index("(", pos))
        self.ranges(args[4], close, spec)
        for el in els:
            self.rule(pos, el, attr, "number", spec, NUMBER_MESSAGES[ctype])
            if "VIR_XML_PROP_REQUIRED" in flags:
                self.rule(pos, el, attr, "required", {}, MISSING, required=True)

    def check_after(self, pos: int, close: int) -> tuple[str, str] | None:
        """(the test of a call's result, the governed code) of the ``if`` that tests it: the
        ``if`` whose condition holds the call, or the next one that tests the variable the
        result went to."""
        for b in sorted(self.st.ifs, key=lambda b: -b.start):
            if not b.negated and b.start <= pos < b.cond_end:
                return b.cond, self.body[b.cond_end:b.end]
        target = self.assigned(pos)
        if target is None:
            return None
        nxt = re.compile(rf"(?<![\w>.]){re.escape(target)}(?!\w)")
        first: tuple[str, str] | None = None
        for b in sorted(self.st.ifs, key=lambda b: b.start):
            if b.negated or b.start < close:
                continue
            if b.start - close > 600:
                break
            if nxt.search(b.cond):
                found = b.cond, self.body[b.cond_end:b.end]
                if self.message(found[1]) is not None:
                    return found  # the test that refuses (``else if (rv == -2)``)
                first = first or found
        return first

    def message(self, governed: str) -> str | None:
        """libvirt's words in the first ``virReportError`` of ``governed``, when the code
        refuses the definition; each C argument as ``{expression}``."""
        found = cscan.calls(governed, "virReportError")
        if not found or not _FAIL.search(governed):
            return None
        _, _, _, args = found[0]
        fmt = cscan.c_string(args[1]) if len(args) > 1 else None
        rest = args[2:]
        if fmt == "%s" and rest:
            fmt = cscan.c_string(rest[0])
            rest = []
        if fmt is None:
            return None
        out = ""
        k = 0
        for piece in re.split(r"(%(?:ll|l|z)?[sduio]|%%)", fmt):
            if re.fullmatch(r"%(?:ll|l|z)?[sduio]", piece):
                arg = rest[k].strip() if k < len(rest) else "?"
                k += 1
                lit = self.literal(arg)
                if lit is not None:
                    out += lit.replace("{", "{{").replace("}", "}}")
                elif piece.endswith("o"):
                    out += "{" + " ".join(arg.split()) + ":o}"  # printed in octal
                else:
                    out += "{" + " ".join(arg.split()) + "}"
            elif piece == "%%":
                out += "%"
            else:
                out += piece.replace("{", "{{").replace("}", "}}")
        return out

    @staticmethod
    def _with_value(message: str, var: str) -> str:
        for spelling in (var, f"NULLSTR({var})", f"(const char *){var}",
                         f"NULLSTR_EMPTY({var})"):
            message = message.replace("{" + spelling + "}", "{value}")
        return message

    def xpath_number(self, name: str, pos: int, close: int, args: list[str]) -> None:
        ctype, base = XPATH_NUMBER[name]
        where = self._xpath_value(self.literal(args[0]))
        if not where:
            self.note(pos, f"{name}({args[0]}): element not followed")
            return
        if base is None:
            base = int(args[2])
        check = self.check_after(pos, close)
        if check is None:
            self.note(pos, f"{name}({args[0]}): result not tested")
            return
        cond, governed = check
        msg = self.message(governed)
        if msg is None:
            self.note(pos, f"{name}({args[0]}): a bad value is not refused ({cond})")
            return
        signed, bits = CTYPES[ctype]
        spec: dict[str, object] = {"type": ctype, "base": base,
                                   "sign": "signed" if signed else "unsigned", "bits": bits,
                                   "messages": {"invalid": msg}}
        self.ranges(args[-1], close, spec)
        self.rules_at(pos, where, "number", spec, msg)
        result = re.escape(self.assigned(pos) or "\x00")
        if re.search(rf"^\s*{re.escape(self.body[pos:close])}\s*(<\s*0|!=\s*0|==\s*-1)|"
                     rf"(?<![\w>.]){result}\s*(<\s*0|!=\s*0|==\s*-1)", cond):
            for path, attr in where:
                self.rule(pos, path, attr, "required", {}, msg, required=True)

    def ranges(self, out: str, close: int, spec: dict[str, object]) -> None:
        """Add the bounds a number read into ``out`` is held to by the ``if``s that follow the
        read (``if (val > 0xff) virReportError(...)``) to ``spec``, with their messages."""
        out = _strip_ref(out)
        if not out or not re.fullmatch(r"[\w>.\-\[\]]+", out):
            return
        var = re.escape(out)
        msgs = spec.setdefault("messages", {})
        assert isinstance(msgs, dict)
        # the tests up to the next read into the same variable
        again = re.compile(rf"&\s*{var}\b|(?<![\w>.]){var}\s*=(?!=)")
        nxt = again.search(self.body, close)
        stop = nxt.start() if nxt else len(self.body)
        for b in sorted(self.st.ifs, key=lambda b: b.start):
            if b.negated or b.start < close:
                continue
            if b.start - close > 1500 or b.start >= stop:
                break
            parts = [p.strip() for p in b.cond.split("||")]
            bounds: list[tuple[str, int]] = []
            for part in parts:
                m = re.fullmatch(rf"\(*\s*{var}\s*(>=|>|<=|<|==)\s*(0x[0-9a-fA-F]+|\d+|\w+)"
                                 r"\s*\)*", part)
                if m is None:
                    bounds = []
                    break
                limit = _constant(m.group(2))
                if limit is None:
                    bounds = []
                    break
                bounds.append((m.group(1), limit))
            if not bounds:
                continue
            msg = self.message(self.body[b.cond_end:b.end])
            if msg is None:
                continue
            msg = msg.replace("{" + out + "}", "{number}").replace("{" + out + ":o}",
                                                                   "{number:o}")
            for op, limit in bounds:
                if op == ">":
                    spec["max"] = limit
                elif op == ">=":
                    spec["max"] = limit - 1
                elif op == "<":
                    spec["min"] = limit
                elif op == "<=":
                    spec["min"] = limit + 1
                elif op == "==" and limit == 0:
                    spec["nonzero"] = True
                    msgs["zero"] = msg
                    continue
                else:
                    continue
                msgs["range"] = msg

    def strtol(self, name: str, pos: int, close: int, args: list[str]) -> None:
        where = self.value(args[0])
        if not where:
            self.note(pos, f"{name}({args[0]}): value not followed")
            return
        if _strip_ref(args[1]) != "NULL":
            self.note(pos, f"{name}({args[0]}, {args[1]}): reads a prefix; curate")
            return
        check = self.check_after(pos, close)
        msg = self.message(check[1]) if check is not None else None
        if msg is None:
            self.note(pos, f"{name}({args[0]}): a bad value is not refused")
            return
        ctype, sign = STRTOL[name]
        _, bits = CTYPES[ctype]
        msg = self._with_value(msg, _strip_ref(args[0]))
        for placeholder, meaning in MESSAGE_ARGUMENTS.items():
            msg = msg.replace(placeholder, meaning)
        spec: dict[str, object] = {"type": ctype, "base": int(args[2]), "sign": sign,
                                   "bits": bits, "messages": {"invalid": msg}}
        out = _strip_ref(args[3]) if len(args) > 3 else ""
        if check is not None and out and re.search(
                rf"\|\|\s*{re.escape(out)}\s*==\s*0\b", check[0]):
            spec["nonzero"] = True  # if (virStrToLong_uip(...) < 0 || level == 0)
            spec["messages"] = {"invalid": msg, "zero": msg}
        if len(args) > 3:
            self.ranges(args[3], close, spec)
        self.rules_at(pos, where, "number", spec, msg, args[0])

    def scaled(self, name: str, pos: int, args: list[str]) -> None:
        """virParseScaledValue and its wrappers: a decimal count of bytes (or of ``scale``
        bytes without a unit), a unit virScaleInteger knows, a product within ``max``."""
        xp = self.literal(args[0])
        unit_xp = self.literal(args[1]) if args[1].strip() != "NULL" else None
        if xp is not None:
            xp = re.sub(r"^string\((.*)\)$", r"\1", xp)
        where = self._xpath_value(xp)
        if not where:
            self.note(pos, f"{name}({args[0]}): element not followed")
            return
        spec: dict[str, object] = {"xpath": xp}
        if name == "virDomainParseMemory":
            # virMemoryMaxValue: LLONG_MAX bytes on 64 bits; then the KiB must be below it
            spec.update(scale=1024, max=2**63 - 1, kib_max=-(-(2**63 - 1) // 1024),
                        required=args[4].strip() == "true")
        elif name == "virDomainParseMemoryLimit":
            spec.update(scale=1024, max=(2**53 - 1) << 10, required=False)
        else:
            scale, limit = _evaluate(args[4]), _evaluate(args[5])
            if scale is None or limit is None:
                self.note(pos, f"{name}({args[0]}): scale {args[4]}, max {args[5]}")
                return
            spec.update(scale=scale, max=limit, required=args[6].strip() == "true")
        units = self._xpath_value(unit_xp if unit_xp is not None else f"{xp}/@unit")
        for path, attr in where:
            s = dict(spec)
            for upath, uattr in units:
                if path_text(upath) == path_text(path) and uattr != "#text":
                    s["unit"] = uattr  # an attribute of the same element
            self.rule(pos, path, attr, "scaled", s, SCALED_INVALID, xpath=True)

    def from_string(self, name: str, pos: int, close: int, args: list[str]) -> None:
        enum = self.src.enum_of(name)
        if enum is None:
            return
        where = self.value(args[0])
        target = self.assigned(pos)
        if where and target is not None:
            self.fields[_strip_ref(target)] = Field(tuple(p for p, _ in where), where[0][1],
                                                    enum, self.src.enums[enum].values[0])
        check = self.check_after(pos, close)
        if check is None:
            return
        cond, governed = check
        msg = self.message(governed)
        if msg is None:
            return
        if not where:
            self.note(pos, f"{name}({args[0]}): value not followed")
            return
        values = self.src.enums[enum].values
        exclude = [values[0]] if re.search(r"<=\s*0", cond) and values[0] else []
        msg = self._with_value(msg, _strip_ref(args[0]))
        self.rules_at(pos, where, "enum", self.enum_spec(enum, exclude), msg, args[0])

    def yes_no(self, pos: int, close: int, args: list[str]) -> None:
        where = self.value(args[0])
        check = self.check_after(pos, close)
        msg = self.message(check[1]) if check is not None else None
        if msg is None:
            return  # ignore_value(virStringParseYesNo(...)): a bad value is not refused
        if not where:
            self.note(pos, f"virStringParseYesNo({args[0]}): not followed")
            return
        self.rules_at(pos, where, "enum", {"enum": "yesno", "values": ["yes", "no"]},
                      self._with_value(msg, _strip_ref(args[0])), args[0])

    def custom_enum(self, name: str, pos: int, close: int, args: list[str]) -> None:
        """A function of CURATED.enum_functions: a FromString of its own, which picks an enum
        table by the element's kind (``virDomainChrTargetTypeFromString``) or a field."""
        spec = self.cur.enum_functions[name]
        where = self.value(args[spec.value_arg])
        check = self.check_after(pos, close)
        msg = self.message(check[1]) if check is not None else None
        if not where or msg is None:
            self.note(pos, f"{name}: not followed")
            return
        msg = self._with_value(msg, _strip_ref(args[spec.value_arg]))
        target = self.assigned(pos)
        if target is not None:
            self.fields[_strip_ref(target)] = Field(tuple(p for p, _ in where), where[0][1],
                                                    spec.variants[0].enum, None)
        for path, attr in where:
            for variant in spec.variants:
                p = variant.apply(path)
                if p is None:
                    continue
                values = variant.values if variant.values is not None else tuple(
                    v for v in self.src.enums[variant.enum].values
                    if v is not None and v not in variant.exclude)
                self.rule(pos, p, attr, "enum", {"enum": variant.enum, "values": list(values)},
                          msg, xpath=_strip_ref(args[spec.value_arg]) in self.via_xpath)


# ---- what is curated by hand --------------------------------------------------------------------


@dataclass
class Variant:
    """One table of an enum function that picks its table: it applies when the element at
    ``depth`` (from the end, 1 = the value's element) has tag ``tag`` (if given) and
    attribute ``attr`` in ``when`` (if given; '' = absent)."""

    enum: str
    depth: int = 1
    tag: str | None = None
    attr: str | None = None
    when: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    values: tuple[str, ...] | None = None

    def apply(self, path: Path_) -> Path_ | None:
        if len(path) < self.depth:
            return None
        i = len(path) - self.depth
        if self.tag is not None and path[i].tag != self.tag:
            return None
        if self.attr is None:
            return path
        steps = list(path)
        steps[i] = steps[i].where(self.attr, self.when)
        return tuple(steps)


@dataclass
class EnumFunction:
    value_arg: int
    variants: list[Variant]


@dataclass(frozen=True)
class Extra:
    """A rule written out by hand: the node parameter it is about, the attribute, the kind
    (``required``, ``enum``), its spec, libvirt's words, and a text of the function's body
    at the test (for its line and the conditions around it)."""

    node: str
    attr: str
    kind: str
    spec: dict[str, object]
    message: str
    anchor: str


@dataclass
class Curation:
    """What the C code does where the walker cannot see it; each entry cites the function."""

    # function -> {local variable: (XPath from the context node, first only)}
    nodes: dict[str, dict[str, tuple[str, bool]]] = field(default_factory=dict)
    # function -> {struct field: (node parameter, levels up from it, attribute, enum, value
    # when absent)}: a field read from an attribute where the walker cannot see it
    fields: dict[str, dict[str, tuple[str, int, str, str, str | None]]] = field(
        default_factory=dict)
    # FromString-like functions of libvirt's own
    enum_functions: dict[str, EnumFunction] = field(default_factory=dict)
    # functions not to follow (status XML, other documents)
    skip: frozenset[str] = frozenset()
    # function -> rules its code states in an ``if`` the walker does not read, each placed
    # where the function is reached (wherever its node parameter stands)
    extra: dict[str, list[Extra]] = field(default_factory=dict)


def _controller_models() -> list[Variant]:
    """virDomainControllerModelTypeFromString: the table of the controller's type; types with
    no table take no model at all. An absent type is ide (virXMLPropEnum's 0)."""
    tables = {"scsi": "virDomainControllerModelSCSI", "usb": "virDomainControllerModelUSB",
              "pci": "virDomainControllerModelPCI", "ide": "virDomainControllerModelIDE",
              "virtio-serial": "virDomainControllerModelVirtioSerial",
              "isa": "virDomainControllerModelISA"}
    out = [Variant(enum, attr="type", when=(ctype, "") if ctype == "ide" else (ctype,))
           for ctype, enum in tables.items()]
    out.append(Variant("virDomainControllerType", attr="type",
                       when=("fdc", "sata", "ccid", "xenbus"), values=()))
    return out


CURATED = Curation(
    fields={
        # the source's type is the type attribute of the element around <source> (<disk>,
        # <backingStore>), read by virDomainStorageSourceParseBase into a new src
        "virDomainStorageSourceParse": {"src->type": ("node", 1, "type", "virStorage", None)},
        # virDomainControllerDefNew(type) stores the type read into a local in def->type
        "virDomainControllerDefParseXML": {
            "def->type": ("node", 0, "type", "virDomainController", "ide")},
    },
    enum_functions={
        # virDomainChrTargetTypeFromString: the table of the device's kind; <parallel>
        # takes any target type (no table yet)
        "virDomainChrTargetTypeFromString": EnumFunction(1, [
            Variant("virDomainChrChannelTarget", depth=2, tag="channel"),
            Variant("virDomainChrConsoleTarget", depth=2, tag="console"),
            Variant("virDomainChrSerialTarget", depth=2, tag="serial"),
        ]),
        # virDomainChrTargetModelFromString: only serial ports have target models
        "virDomainChrTargetModelFromString": EnumFunction(1, [
            Variant("virDomainChrSerialTargetModel", depth=3, tag="serial"),
        ]),
        "virDomainControllerModelTypeFromString": EnumFunction(1, _controller_models()),
        # virArchFromString returns VIR_ARCH_NONE (0) for what it does not know
        "virArchFromString": EnumFunction(0, [Variant("virArch", exclude=("none",))]),
    },
    extra={
        # an <address> without a type: virXMLPropString, then a test of its own
        "virDomainDeviceAddressParseXML": [
            Extra("address", "type", "required", {}, "No type specified for device address",
                  "No type specified for device address")],
        # the same: a device's type or model read with virXMLPropString, tested by hand
        **{func: [Extra("node", attr, "required", {}, words, words)]
           for func, attr, words in (
               ("virDomainInputDefParseXML", "type", "missing input device type"),
               ("virDomainHubDefParseXML", "type", "missing hub device type"),
               ("virDomainWatchdogDefParseXML", "model", "watchdog must contain model name"),
               ("virDomainRNGDefParseXML", "model", "missing RNG device model"),
               ("virDomainRedirdevDefParseXML", "type", "missing type in redirdev"),
               ("virDomainShmemDefParseXML", "name",
                "shmem element must contain 'name' attribute"),
               ("virDomainDiskSourceVHostUserParse", "type",
                "missing 'type' attribute for vhostuser disk source"))},
        "virDomainSmartcardDefParseXML": [
            Extra("node", "type", "required", {}, "passthrough mode requires a character "
                  "device type attribute", "passthrough mode requires a character ")],
    },
)


# ---- the driver ---------------------------------------------------------------------------------

SEED = Invocation("virDomainDefParseXML", (), (Step("domain"),), DEFINE_FLAGS)


def follow(src: Source, curated: Curation) -> tuple[list[Rule], list[Unresolved], int]:
    """Every rule reachable from virDomainDefParseXML; the unresolved sites; invocations."""
    seen: set[Invocation] = set()
    todo = [SEED]
    rules: list[Rule] = []
    unresolved: list[Unresolved] = []
    while todo:
        inv = todo.pop()
        if inv in seen:
            continue
        seen.add(inv)
        w = Walker(src, inv, curated)
        w.walk()
        rules += w.rules
        unresolved += w.unresolved
        todo += [c for c in w.calls if c not in seen]
    return rules, unresolved, len(seen)


def excluded(rule: Rule) -> str | None:
    """Why a rule is left out of the table, or None. None is today: the fields of
    ``<address>`` elements (every device's, and a host device's source address) and a
    controller's ``index`` are refused at parse time like any other value (placement reads
    them again with the same number reader, ``augmenter/model/numbers.py``)."""
    del rule
    return None


def entry(rule: Rule) -> dict[str, object]:
    path = rule.path
    last = dict(path[-1].preds)
    if last.get(rule.attr) == ("*",):  # "if it is written": every rule says that of its value
        del last[rule.attr]
        path = (*path[:-1], Step(path[-1].tag, path[-1].first, tuple(sorted(last.items()))))
    out: dict[str, object] = {"context": path_text(path), "attr": rule.attr,
                              "kind": rule.kind}
    spec = dict(rule.spec)
    out.update(spec)
    if rule.kind != "number":
        out["message"] = rule.message
    if rule.empty_is_absent:
        out["empty_is_absent"] = True
    return out


def table(rules: list[Rule], src: Source) -> dict[str, object]:
    """The rules as the JSON the package reads: one entry per element context, attribute and
    kind, each with the C functions that read it."""
    merged: dict[str, dict[str, object]] = {}
    for r in sorted(rules, key=lambda r: (r.func, r.line)):
        if excluded(r):
            continue
        e = entry(r)
        key = json.dumps(e, sort_keys=True)
        site = f"{r.func} ({src.funcs[r.func].file}:{r.line})"
        if key in merged:
            sources = merged[key]["source"]
            assert isinstance(sources, list)
            if site not in sources:
                sources.append(site)
        else:
            merged[key] = {**e, "source": [site]}
    entries = fold_addresses(sorted(merged.values(), key=entry_key))
    return {"libvirt": LIBVIRT_VERSION,
            "generator": "scripts/gen_parse_rules.py",
            "flags": sorted(DEFINE_FLAGS),
            "rules": entries}


def fold_addresses(entries: list[dict[str, object]]) -> list[dict[str, object]]:
    """Each place libvirt reads an address as one ``address`` entry, in place of the rules of
    its type and fields: they are stated once, by the model (``augmenter/model/values.py``
    ``ADDRESS_TYPES``, ``ADDRESS_FIELDS``), and the package expands the entry back
    (``policy.parse_rules.expand``).
    A device's ``<address>`` is read by virDomainDeviceAddressParseXML (every kind, by its
    type); a host device's source address by virPCIDeviceAddressParseXML alone. Stops when
    the model's fields are not the ones libvirt's sources read."""
    markers: list[dict[str, object]] = [
        {"context": e["context"], "attr": "type", "kind": "address",
         "source": ["virDomainDeviceAddressParseXML (domain_conf.c)"]}
        for e in entries if e["kind"] == "enum" and e.get("enum") == "virDomainDeviceAddress"]
    pci = sorted({str(e["context"]) for e in entries if e["kind"] == "number"
                  and str(e["context"]).endswith("/address[1]")
                  and str(_list0(e["source"])).startswith("virPCIDeviceAddressParseXML ")})
    markers += [{"context": c, "attr": "*", "kind": "address", "address": "pci",
                 "source": ["virPCIDeviceAddressParseXML (device_conf.c)"]} for c in pci]
    for name, declared in FIELDS.items():  # one attribute each, where libvirt reads it
        markers += [{"context": e["context"], "attr": e["attr"], "kind": "field",
                     "field": name} for e in entries if e["kind"] == "number"
                    and e["attr"] == declared.name and e["source"] == [declared.source]]
    written = {json.dumps(e, sort_keys=True) for e in entries}
    folded: set[str] = set()
    for m in markers:
        for f in (expand(m) if m["kind"] == "address" else expanded([m])):
            text = json.dumps(f, sort_keys=True)
            if text not in written:
                raise SystemExit(f"model.values is not what libvirt reads: {text}")
            folded.add(text)
    kept = [e for e in entries if json.dumps(e, sort_keys=True) not in folded]
    return sorted(kept + markers, key=entry_key)


def _list0(value: object) -> object:
    return value[0] if isinstance(value, list) and value else None


def write(data: dict[str, object], path: Path) -> None:
    """One rule a line, sorted: the diff of a regeneration reads rule by rule."""
    rules = data["rules"]
    assert isinstance(rules, list)
    head = {k: v for k, v in data.items() if k != "rules"}
    lines = ["{"]
    for k, v in head.items():
        lines.append(f"  {json.dumps(k)}: {json.dumps(v)},")
    lines.append('  "rules": [')
    lines.append(",\n".join("    " + json.dumps(r, ensure_ascii=False) for r in rules))
    lines.append("  ]")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("libvirt", type=Path, help="libvirt's source tree (9.0.0)")
    ap.add_argument("-o", "--output", type=Path, default=OUT)
    ap.add_argument("--report", action="store_true", help="print every site and what it became")
    args = ap.parse_args(argv)
    src = load(args.libvirt)
    rules, unresolved, n = follow(src, CURATED)
    data = table(rules, src)
    write(data, args.output)
    entries = data["rules"]
    assert isinstance(entries, list)
    kinds: dict[str, int] = defaultdict(int)
    for e in entries:
        kinds[str(e["kind"])] += 1
    print(f"{args.output}: {len(entries)} rules ({dict(sorted(kinds.items()))}) from "
          f"{n} invocations; {len(unresolved)} sites not followed", file=sys.stderr)
    if args.report:
        for r in sorted(rules, key=lambda r: (r.func, r.line)):
            print(f"{r.func}:{r.line}  {path_text(r.path)}@{r.attr}  {r.kind}  "
                  f"{json.dumps(r.spec)[:100]}  {r.message[:80]}")
        print(f"# {len(rules)} rules from {n} invocations")
        seen_u = set()
        for u in unresolved:
            if (u.func, u.line, u.what) in seen_u:
                continue
            seen_u.add((u.func, u.line, u.what))
            print(f"UNRESOLVED {u.func}:{u.line} {u.what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
