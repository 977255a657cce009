"""The values libvirt 9.0's domain parser refuses, as data: ``data/parse_rules.json``.

``scripts/gen_parse_rules.py`` reads libvirt's sources and writes the table: for every attribute
and element text ``virDomainDefParseXML`` and the functions it calls read as an enum, a boolean,
a number or a scaled size, the element it sits on (a path from ``<domain>``, with the conditions
under which libvirt reads it), what libvirt accepts, and the words it refuses the rest with.
This module loads the table and judges one value against one rule; ``checks/values.py`` walks a
document and applies it. The fields of every ``<address>`` and a controller's ``index`` are
rules here too: libvirt's parser refuses them before anything else, and placement reads them
later with the same number reader (``model/numbers.py``). The table says where libvirt reads an
address (an ``address`` entry); the fields' syntax is the model's declaration
(``model.values.ADDRESS_FIELDS``), expanded here into a rule per field (:func:`expand`). So is
every single number placement or a check reads again (:data:`FIELDS`: a ``field`` entry names
the declaration, which placement and the checks read by with ``model.values.field_value``).

A context such as ``domain/devices/graphics[@type=spice]/listen`` is a list of steps from the
root; a step is an element name (``*``: any), ``[1]`` when libvirt reads only the first such
child (``virXPathNode``), and ``[@attr=a|b]`` conditions (``''`` in the list: the attribute is
absent; ``@#name``: the element's own name).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from ..model import numbers
from ..model.scaled import unit_scale
from ..model.values import (
    ADDRESS_FIELDS,
    ADDRESS_TYPES,
    AUDIO_ID,
    BALLOON_PERIOD,
    BIOS_REBOOT_TIMEOUT,
    BOOT_MENU_TIMEOUT,
    BOOT_ORDER,
    CONTROLLER_INDEX,
    CONTROLLER_IOTHREAD,
    CONTROLLER_NODE,
    CONTROLLER_PORTS,
    CONTROLLER_QUEUES,
    CPU_TOPOLOGY_FIELDS,
    DISK_IOTHREAD,
    HOSTDEV_SCSI_FIELDS,
    HOSTDEV_USB_FIELDS,
    IOTHREAD_ID,
    IOTHREADPIN_IOTHREAD,
    IOTHREADS_COUNT,
    MAX_MEMORY_SLOTS,
    MEMNODE_CELLID,
    NET_DRIVER_FIELDS,
    NO_TYPE,
    NUMA_CELL_ID,
    PCI_TARGET_FIELDS,
    RECONNECT_TIMEOUT,
    SOUND_AUDIO_ID,
    TYPE_SOURCES,
    UNKNOWN_TYPE,
    USB_PRODUCT_ID,
    USB_VENDOR_ID,
    VCPU_COUNT,
    VCPU_CURRENT,
    VCPUPIN_VCPU,
    VIDEO_MODEL_FIELDS,
    VNC_AUDIO_ID,
    VSOCK_CID,
    ZPCI_FIELDS,
    Field,
)

DATA = "parse_rules.json"


@dataclass(frozen=True)
class Step:
    tag: str  # "*" for any element
    first: bool = False
    where: tuple[tuple[str, frozenset[str]], ...] = ()


@dataclass(frozen=True)
class Rule:
    """One value libvirt's parser refuses: where it sits, what is accepted, libvirt's words."""

    context: tuple[Step, ...]
    attr: str  # an attribute, "#text" (the element's text) or "#name" (its name)
    kind: str  # enum | number | scaled | required
    message: str  # with {attr} {element} {value} ...
    source: tuple[str, ...]  # the C functions that read it
    empty_is_absent: bool = False  # read through XPath, where "" is no value
    enum: str = ""
    values: tuple[str, ...] = ()
    reader: str = ""  # numbers: virStrToLong_<reader>
    base: int = 10
    low: int | None = None
    high: int | None = None
    nonzero: bool = False
    messages: Mapping[str, str] = field(default_factory=dict)
    scale: int = 1
    limit: int = 0
    kib_limit: int | None = None
    unit: str | None = None  # the attribute of the same element that holds the unit
    xpath: str = ""
    # an enum's values as a set, made from them: the walk skips a value they hold without
    # judging it (500,000 ``<serial type='pty'>``)
    accepted: frozenset[str] = field(init=False, default=frozenset(), compare=False,
                                     repr=False)

    def __post_init__(self) -> None:
        if self.kind == "enum":
            object.__setattr__(self, "accepted", frozenset(self.values))

    @property
    def context_text(self) -> str:
        return "/".join(_step_text(s) for s in self.context)


def _step_text(step: Step) -> str:
    out = step.tag + ("[1]" if step.first else "")
    for attr, values in step.where:
        out += f"[@{attr}={'|'.join(sorted(values))}]"
    return out


_STEP = re.compile(r"([^\[\]/]+)((?:\[[^\]]*\])*)")


@cache
def parse_context(text: str) -> tuple[Step, ...]:
    """``domain/devices/graphics[@type=spice]/listen`` as steps (cached: rules share
    contexts, and equal contexts are then one object)."""
    steps = []
    for part in text.split("/"):
        m = _STEP.fullmatch(part)
        if m is None:
            raise ValueError(f"bad context step {part!r} in {text!r}")
        first = False
        where = []
        for pred in re.findall(r"\[([^\]]*)\]", m.group(2)):
            if pred == "1":
                first = True
                continue
            pm = re.fullmatch(r"@([^=]+)=(.*)", pred)
            if pm is None:
                raise ValueError(f"bad condition [{pred}] in {text!r}")
            where.append((pm.group(1), frozenset(pm.group(2).split("|"))))
        steps.append(Step(m.group(1), first, tuple(where)))
    return tuple(steps)


# virStrToLong_X by (C type, what a '-' does), as the generator names them
_READERS = {("int", "signed"): "i", ("uint", "wrap"): "ui", ("uint", "unsigned"): "uip",
            ("long", "signed"): "l", ("ulong", "wrap"): "ul", ("ulong", "unsigned"): "ulp",
            ("llong", "signed"): "ll", ("ullong", "wrap"): "ull",
            ("ullong", "unsigned"): "ullp"}


_TYPES = {reader: key for key, reader in _READERS.items()}


def _field_entries(context: str, fields: tuple[Field, ...]) -> list[dict[str, object]]:
    """The table's entries for ``fields`` of the element at ``context``: a number rule each, a
    required rule for the required ones."""
    out: list[dict[str, object]] = []
    for f in fields:
        ctype, sign = _TYPES[f.reader]
        words = {"invalid": f.message or numbers.PROP_INVALID.replace(
            "{expected}", numbers.expected(f.reader))}
        if f.nonnegative:
            words["range"] = numbers.PROP_INVALID.replace("{expected}", "non-negative value")
        if f.nonzero:
            words["zero"] = numbers.PROP_ZERO
        number: dict[str, object] = {
            "context": context, "attr": f.name, "kind": "number", "type": ctype,
            "base": f.base, "sign": sign, "bits": numbers.READERS[f.reader].bits,
            "messages": words}
        if f.nonnegative:
            number["min"] = 0
        if f.nonzero:
            number["nonzero"] = True
        if f.empty_is_absent:
            number["empty_is_absent"] = True
        out.append({**number, "source": [f.source]})
        if f.required:
            out.append({"context": context, "attr": f.name, "kind": "required",
                        "message": numbers.PROP_MISSING, "source": [f.source]})
    return out


FIELDS: Mapping[str, Field] = {
    "controller-index": CONTROLLER_INDEX,
    "controller-ports": CONTROLLER_PORTS,
    "controller-driver-queues": CONTROLLER_QUEUES,
    "numa-cell-id": NUMA_CELL_ID,
    "numatune-memnode-cellid": MEMNODE_CELLID,
    "bootmenu-timeout": BOOT_MENU_TIMEOUT,
    "bios-rebootTimeout": BIOS_REBOOT_TIMEOUT,
    "memballoon-stats-period": BALLOON_PERIOD,
    "boot-order": BOOT_ORDER,
    "audio-id": AUDIO_ID,
    "sound-audio-id": SOUND_AUDIO_ID,
    "vnc-audio-id": VNC_AUDIO_ID,
    "vcpu-current": VCPU_CURRENT,
    **{f"cpu-topology-{name}": f for name, f in CPU_TOPOLOGY_FIELDS.items()},
    "iothread-id": IOTHREAD_ID,
    "vcpupin-vcpu": VCPUPIN_VCPU,
    "iothreadpin-iothread": IOTHREADPIN_IOTHREAD,
    "disk-driver-iothread": DISK_IOTHREAD,
    "controller-driver-iothread": CONTROLLER_IOTHREAD,
    **{f"video-model-{name}": f for name, f in VIDEO_MODEL_FIELDS.items()},
    **{f"interface-driver-{name}": f for name, f in NET_DRIVER_FIELDS.items()},
    "vsock-cid-address": VSOCK_CID,
    "reconnect-timeout": RECONNECT_TIMEOUT,
    "maxMemory-slots": MAX_MEMORY_SLOTS,
    "vcpu-count": VCPU_COUNT,
    "iothreads-count": IOTHREADS_COUNT,
    "controller-target-node": CONTROLLER_NODE,
    **{f"hostdev-usb-{name}": f for name, f in HOSTDEV_USB_FIELDS.items()},
    "hostdev-usb-vendor-id": USB_VENDOR_ID,
    "hostdev-usb-product-id": USB_PRODUCT_ID,
    **{f"hostdev-scsi-{name}": f for name, f in HOSTDEV_SCSI_FIELDS.items()},
    **{f"pci-target-{name}": f for name, f in PCI_TARGET_FIELDS.items()},
}
"""The single attributes the model declares, by the name a ``field`` entry gives."""


def expand(entry: Mapping[str, object]) -> list[dict[str, object]]:
    """An ``address`` entry of the JSON as the entries of the fields it stands for: its type
    and every kind's fields, each under ``[@type=kind]`` (a device's ``<address>``,
    virDomainDeviceAddressParseXML), or one kind's fields (``"address": "pci"``: a host
    device's source, virPCIDeviceAddressParseXML); a PCI address's ``<zpci>`` with it."""
    context = str(entry["context"])
    only = entry.get("address")
    out: list[dict[str, object]] = []
    if only is None:
        out.append({"context": f"{context}[@type=]", "attr": "type", "kind": "required",
                    "message": NO_TYPE, "source": [TYPE_SOURCES[0]]})
        out.append({"context": context, "attr": "type", "kind": "enum",
                    "enum": "virDomainDeviceAddress", "values": list(ADDRESS_TYPES),
                    "message": UNKNOWN_TYPE, "source": [TYPE_SOURCES[1]]})
    for kind, fields in ADDRESS_FIELDS.items():
        if only is not None and kind != only:
            continue
        where = context if only is not None else f"{context}[@type={kind}]"
        out += _field_entries(where, fields)
        if kind == "pci":
            out += _field_entries(f"{where}/zpci", ZPCI_FIELDS)
    return out


def entry_key(entry: Mapping[str, object]) -> tuple[str, str, str]:
    """The order of the table's entries (the generator writes them in it)."""
    return str(entry["context"]), str(entry["attr"]), str(entry["kind"])


def expanded(entries: list[object]) -> list[Mapping[str, object]]:
    """The JSON's entries with each ``address`` entry replaced by its fields', in order."""
    out: list[Mapping[str, object]] = []
    for e in entries:
        assert isinstance(e, dict)
        if e["kind"] == "address":
            out += expand(e)
        elif e["kind"] == "field":  # one attribute the model declares
            out += _field_entries(str(e["context"]), (FIELDS[str(e["field"])],))
        else:
            out.append(e)
    return sorted(out, key=entry_key)


def _rule(entry: Mapping[str, object]) -> Rule:
    """One entry of the JSON as a :class:`Rule`."""
    kind = str(entry["kind"])
    context = parse_context(str(entry["context"]))
    attr = str(entry["attr"])
    source = tuple(str(s) for s in _list(entry.get("source")))
    empty_is_absent = bool(entry.get("empty_is_absent", False))
    if kind == "number":
        messages = entry["messages"]
        assert isinstance(messages, dict)
        reader = _READERS[(str(entry["type"]), str(entry["sign"]))]
        spec = numbers.READERS[reader]
        return Rule(context, attr, kind, str(messages["invalid"]), source, empty_is_absent,
                    reader=reader, base=_int(entry["base"]),
                    low=_opt(entry.get("min", spec.low)), high=_opt(entry.get("max", spec.high)),
                    nonzero=bool(entry.get("nonzero", False)),
                    messages={str(k): str(v) for k, v in messages.items()})
    message = str(entry["message"])
    if kind == "enum":
        return Rule(context, attr, kind, message, source, empty_is_absent,
                    enum=str(entry["enum"]), values=tuple(str(v) for v in _list(entry["values"])))
    if kind == "scaled":
        return Rule(context, attr, kind, message, source, empty_is_absent,
                    scale=_int(entry["scale"]), limit=_int(entry["max"]),
                    kib_limit=_opt(entry.get("kib_max")),
                    unit=str(entry["unit"]) if "unit" in entry else None,
                    xpath=str(entry["xpath"]))
    return Rule(context, attr, kind, message, source, empty_is_absent)


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value


def _opt(value: object) -> int | None:
    return int(value) if isinstance(value, int) else None


@dataclass
class Node:
    """A node of the rules' trie of element names: the rules whose context ends here, by
    context (one test of a context serves all its rules), and the names that go further
    (``*``: any name)."""

    children: dict[str, Node] = field(default_factory=dict)
    groups: dict[tuple[Step, ...], list[Rule]] = field(default_factory=dict)
    # the groups as (the steps still to test, their rules), for the walk
    tests: list[tuple[tuple[tuple[int, Step], ...], list[Rule]]] = field(default_factory=list)
    depth: int = 0  # the place in a path of the elements that reach this node (domain: 0)
    _plan: Plan | None = field(default=None, repr=False)
    _steps: dict[str, list[Node]] = field(default_factory=dict, repr=False)

    def plan(self) -> Plan:
        """:attr:`tests` sorted for the walk (built on first use)."""
        if self._plan is None:
            self._plan = Plan.of(self.tests, self.depth)
        return self._plan

    def step(self, tag: str) -> list[Node]:
        """The nodes an element named ``tag`` under this one reaches (kept per name: never
        changed by a caller)."""
        out = self._steps.get(tag)
        if out is None:
            out = []
            hit = self.children.get(tag)
            if hit is not None:
                out.append(hit)
            wild = self.children.get("*")
            if wild is not None:
                out.append(wild)
            if len(self._steps) < 1024:  # names are the document's: keep a bounded few
                self._steps[tag] = out
        return out


Tested = tuple[int, list["Rule"]]
"""A group of rules and its place among its node's tests (the order findings keep)."""


@dataclass
class Plan:
    """A node's tests, sorted by what they read, so that the walk does not test every context
    against every element: 200,000 controllers each met nine contexts that differ only in the
    controller's ``type``. Most contexts test one attribute of the element itself; those are
    looked up by the attribute's value. A context that tests that and more (``<graphics
    type='vnc' passwd=...>``) is looked up the same way and then tested for the rest; the
    others are tested in full."""

    always: list[Tested]  # contexts with nothing left to test
    # attribute -> its value ("" absent, "*" any written) -> the contexts that accept it
    by_value: dict[str, dict[str, list[Tested]]]
    general: list[Context]
    # as by_value, each with the tests left once the value is looked up
    narrowed: dict[str, dict[str, list[Context]]] = field(default_factory=dict)
    # the one attribute every context reads, when that is all they read: the walk keeps
    # its answers (the groups that hold) per value of it, in ``answers``
    keyed: str | None = None
    answers: dict[str | None, list[list[Rule]]] = field(default_factory=dict)
    # the groups that hold for every element, when no context reads anything of it (a
    # ``<serial>``'s ``type``): half a million serial ports are one answer, not worked out
    # half a million times
    fixed: list[list[Rule]] | None = None

    @classmethod
    def of(cls, tests: list[tuple[tuple[tuple[int, Step], ...], list[Rule]]],
           depth: int) -> Plan:
        plan = cls([], {}, [])
        for position, (steps, rules) in enumerate(tests):
            attr = _own_attribute(steps, depth)
            if not steps:
                plan.always.append((position, rules))
            elif attr is not None:
                values = steps[0][1].where[0][1]
                index = plan.by_value.setdefault(attr, {})
                for value in values:
                    index.setdefault(value, []).append((position, rules))
            elif (key := _key_attribute(steps, depth)) is not None:
                name, values, rest = key
                narrowed = plan.narrowed.setdefault(name, {})
                for value in values:
                    narrowed.setdefault(value, []).append((position, rest, rules))
            else:
                plan.general.append((position, steps, rules))
        if len(plan.by_value) == 1 and not plan.narrowed and not plan.general:
            plan.keyed = next(iter(plan.by_value))
        if not plan.by_value and not plan.narrowed and not plan.general:
            plan.fixed = [rules for _, rules in plan.always]  # in the node's order already
        return plan


Context = tuple[int, tuple[tuple[int, "Step"], ...], list["Rule"]]
"""A group of rules, its place among its node's tests, and the steps it still tests."""


def _key_attribute(steps: tuple[tuple[int, Step], ...], depth: int
                   ) -> tuple[str, frozenset[str], tuple[tuple[int, Step], ...]] | None:
    """A plain attribute of the element itself that a context tests besides others (its
    ``type`` when it tests that), its accepted values, and the steps left to test; None
    when the context tests no plain attribute of the element itself."""
    own = [(k, step) for k, (i, step) in enumerate(steps) if i == depth and step.tag != "*"]
    if len(own) != 1:
        return None
    k, step = own[0]
    plain = [c for c in step.where if "@" not in c[0] and not c[0].startswith("#")]
    if not plain:
        return None
    name, values = next((c for c in plain if c[0] == "type"), plain[0])
    left = Step(step.tag, step.first, tuple(c for c in step.where if c[0] != name))
    rest = steps[:k] + (((depth, left),) if left.first or left.where else ()) + steps[k + 1:]
    return name, values, rest


def _own_attribute(steps: tuple[tuple[int, Step], ...], depth: int) -> str | None:
    """The attribute a context tests when it tests only one plain attribute of the element
    itself (the common case); None otherwise."""
    if len(steps) != 1:
        return None
    i, step = steps[0]
    if i != depth or step.first or step.tag == "*" or len(step.where) != 1:
        return None
    attr = step.where[0][0]
    return None if "@" in attr or attr.startswith("#") else attr


@dataclass(frozen=True)
class Table:
    """The rules, in a trie of element names from ``<domain>`` down: a walk of a document
    follows the trie, so each element meets only the rules of its own path."""

    libvirt: str
    rules: tuple[Rule, ...]
    root: Node


def from_json(data: Mapping[str, object]) -> Table:
    entries = data["rules"]
    assert isinstance(entries, list)
    rules = tuple(_rule(e) for e in expanded(entries))
    top = Node()
    for r in rules:
        node = top
        for depth, step in enumerate(r.context):
            node = node.children.setdefault(step.tag, Node(depth=depth))
        group = node.groups.get(r.context)
        if group is None:
            group = node.groups[r.context] = []
            node.tests.append((conditions(r.context), group))
        group.append(r)
    return Table(str(data["libvirt"]), rules, top)


@cache
def conditions(context: tuple[Step, ...]) -> tuple[tuple[int, Step], ...]:
    """The steps of a context a walk that followed the trie must still test: those with
    conditions, ``[1]`` or any name."""
    return tuple((i, s) for i, s in enumerate(context) if s.first or s.where or s.tag == "*")


@cache
def table() -> Table:
    """The shipped table (read once per process)."""
    text = resources.files("augmenter").joinpath("data", DATA).read_text(encoding="utf-8")
    return from_json(json.loads(text))


# ---- judging one value --------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Why libvirt refuses a value: its words and a hint."""

    message: str
    hint: str


def _fill(template: str, **values: object) -> str:
    """libvirt's message with the C arguments filled in (``{number:o}``: in octal, as
    ``%o`` prints it)."""
    def sub(m: re.Match[str]) -> str:
        name, _, spec = m.group(1).partition(":")
        if name not in values:
            return m.group(0)
        value = values[name]
        return format(value, spec) if spec and isinstance(value, int) else str(value)
    return re.sub(r"(?<!\{)\{([^{}]+)\}(?!\})", sub, template).replace(
        "{{", "{").replace("}}", "}")


def nearest(value: str, accepted: tuple[str, ...], n: int = 6) -> list[str]:
    """The accepted values, nearest to ``value`` first (a case slip first of all)."""
    same_case = [v for v in accepted if v.lower() == value.lower().strip()]
    close = difflib.get_close_matches(value.lower(), [v.lower() for v in accepted], n=n,
                                      cutoff=0.0)
    by_lower = {v.lower(): v for v in accepted}
    ordered = same_case + [by_lower[c] for c in close if by_lower[c] not in same_case]
    return ordered[:n]


def enum_hint(value: str, accepted: tuple[str, ...]) -> str:
    if not accepted:
        return "libvirt takes no value here"
    shown = nearest(value, accepted)
    more = "" if len(shown) == len(accepted) else f" (or {len(accepted) - len(shown)} more)"
    return "expected " + ", ".join(f"'{v}'" for v in shown) + more


def number_hint(rule: Rule) -> str:
    low = 1 if rule.nonzero and (rule.low or 0) == 0 else rule.low
    return numbers.hint(rule.base, low, rule.high)


def judge(rule: Rule, element: str, value: str) -> Verdict | None:
    """libvirt's verdict on ``value`` under ``rule``; None when it accepts it."""
    if rule.kind == "enum":
        if value in rule.values:
            return None
        return Verdict(_fill(rule.message, attr=rule.attr, element=element, value=value),
                       enum_hint(value, rule.values))
    if rule.kind == "number":
        return _judge_number(rule, element, value)
    if rule.kind == "scaled":
        return None  # the unit is needed: see judge_scaled
    return None


def _judge_number(rule: Rule, element: str, value: str) -> Verdict | None:
    number = numbers.read(value, rule.reader, rule.base)
    args = {"attr": rule.attr, "element": element, "value": value, "number": number}
    if number is None:
        return Verdict(_fill(rule.messages["invalid"], **args), number_hint(rule))
    if (rule.low is not None and number < rule.low) or (
            rule.high is not None and number > rule.high):
        return Verdict(_fill(rule.messages.get("range", rule.messages["invalid"]), **args),
                       number_hint(rule))
    if rule.nonzero and number == 0:
        return Verdict(_fill(rule.messages.get("zero", rule.messages["invalid"]), **args),
                       number_hint(rule))
    return None


def judge_scaled(rule: Rule, value: str, unit: str | None) -> Verdict | None:
    """virParseScaledValue and virDomainParseMemory's verdict on a size and its unit."""
    count = numbers.read(value, "ullp", 10)
    if count is None:
        return Verdict(_fill(rule.message, value=value, xpath=rule.xpath),
                       "expected a decimal number of units (a unit goes in the 'unit' "
                       "attribute)")
    if unit:
        scale = unit_scale(unit)  # virScaleInteger, stated once in model.scaled
        if scale is None:
            return Verdict(f"unknown suffix '{unit}'",
                           "units are b, bytes, KiB, MiB, GiB, TiB, PiB, EiB (powers of 1024) "
                           "and KB, MB, GB, TB, PB, EB (powers of 1000)")
    else:
        scale, unit = rule.scale, ""
    if count and count > rule.limit // scale:
        return Verdict(f"value too large: {count}{unit}",
                       f"at most {rule.limit} bytes")
    if rule.kib_limit is not None and -(-count * scale // 1024) >= rule.kib_limit:
        return Verdict("size value too large", f"at most {rule.limit} bytes")
    return None
