"""Parse-time rules: the values libvirt 9.0's domain parser refuses (issue 15, step 1).

Three parts:

* the table (``augmenter/data/parse_rules.json``, written by ``scripts/gen_parse_rules.py`` from
  libvirt's sources, which CI does not have): it must hold together on its own;
* the number reader (``augmenter/model/numbers.py``): it must read every string as libc's
  ``strtol``/``strtoul`` do, which is what libvirt's ``virStrToLong_*`` call;
* one case per kind of rule (an enum, a yes/no and an on/off boolean, unsigned and signed
  numbers, a base, a range, a zero, a size and its unit, a required attribute, an element's
  name): ``augment --check`` refuses the bad value at its line with libvirt's words, and
  accepts the good spelling next to it. The ``slow`` tests define each case in the shared
  libvirtd (``qemu:///system``) and compare: libvirt refuses the bad guest with the same words
  and accepts the good one. Without libvirtd they skip, and under ``CI`` they fail.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from libvirt_env import libvirt_or_skip
from lxml import etree

import augmenter
from augmenter.checks import values
from augmenter.model import numbers
from augmenter.model.values import ADDRESS_FIELDS, Unreadable, read_address
from augmenter.pipeline import Options
from augmenter.policy.parse_rules import (
    DATA,
    FIELDS,
    Node,
    Rule,
    judge_scaled,
    parse_context,
    table,
)

EMBEDDED = Options(boards="embedded")

# ---- the table ----------------------------------------------------------------------------------


def test_the_table_is_libvirt_9_0s_and_large() -> None:
    """Every kind of rule is there, in numbers that say the generator followed the parser."""
    t = table()
    assert t.libvirt == "9.0.0"
    kinds = Counter(r.kind for r in t.rules)
    assert kinds["enum"] >= 400 and kinds["number"] >= 250 and kinds["scaled"] >= 20
    assert kinds["required"] >= 100


def test_each_context_reads_back_as_it_is_written() -> None:
    for rule in table().rules:
        assert parse_context(rule.context_text) == rule.context, rule.context_text
        assert rule.context[0].tag == "domain"
        assert rule.source, f"{rule.context_text}@{rule.attr} cites no libvirt function"


def test_address_fields_and_the_controller_index_are_read_as_the_parser_reads_them() -> None:
    """libvirt's parser refuses a bad ``<address>`` field or controller index before anything
    else (virPCIDeviceAddressParseXML, virDomainDeviceAddressParseXML,
    virDomainControllerDefParseXML): those are rules of the table like any other, read by the
    same number reader placement uses."""
    rules = {(r.context_text, r.attr, r.kind) for r in table().rules}
    assert ("domain/devices/disk/address[1][@type=pci]", "bus", "number") in rules
    assert ("domain/devices/disk/address[1][@type=pci]", "multifunction", "enum") in rules
    assert ("domain/devices/disk/address[1][@type=]", "type", "required") in rules
    assert ("domain/devices/controller", "index", "number") in rules


def test_a_declared_field_is_stated_by_the_model_alone() -> None:
    """Each field the model declares (policy.parse_rules.FIELDS) stands in the JSON as field
    entries only: no number or required rule of the same attribute and libvirt source is left
    written out beside them (it would be a second statement of the same syntax), and every
    declaration is used by an entry."""
    entries = json.loads(resources.files("augmenter.data").joinpath(DATA).read_text())["rules"]
    used = {e["field"] for e in entries if e["kind"] == "field"}
    assert used == set(FIELDS)
    declared = {(f.name, f.source) for f in FIELDS.values()}
    for e in entries:
        if e["kind"] in ("number", "required"):
            assert (e["attr"], e["source"][0]) not in declared, (e["context"], e["attr"])


def test_numbers_have_a_range_and_enums_their_values() -> None:
    for rule in table().rules:
        where = f"{rule.context_text}@{rule.attr}"
        if rule.kind == "number":
            assert rule.reader in numbers.READERS, where
            spec = numbers.READERS[rule.reader]
            assert rule.low is not None and rule.high is not None, where
            assert spec.low <= rule.low <= rule.high <= spec.high, where
            assert rule.base in (0, 8, 10, 16), where
            assert "invalid" in rule.messages, where
        elif rule.kind == "enum":
            assert len(set(rule.values)) == len(rule.values), where
            assert rule.enum, where
        elif rule.kind == "scaled":
            assert rule.scale >= 1 and rule.limit >= rule.scale, where


def test_no_two_rules_judge_the_same_value_differently() -> None:
    """One statement of each rule: the same element, attribute and kind under the same
    conditions is one entry."""
    seen: dict[tuple[str, str, str], Rule] = {}
    for rule in table().rules:
        key = (rule.context_text, rule.attr, rule.kind)
        assert key not in seen, f"{key} twice: {seen[key].source} and {rule.source}"
        seen[key] = rule


def _document_of(rule: Rule) -> etree._Element | None:
    """The smallest document in which ``rule`` applies: its context's elements, with the
    attributes its conditions ask for, and the attribute it judges. None for a context that
    names no element (``*`` without a name)."""
    root: etree._Element | None = None
    parent: etree._Element | None = None
    for step in rule.context:
        where = dict(step.where)
        tag = step.tag
        if tag == "*":
            names = sorted(where.pop("#name", ()))
            if not names:
                return None
            tag = names[0]
        where.pop("#name", None)
        el = etree.Element(tag) if parent is None else etree.SubElement(parent, tag)
        for attr, allowed in where.items():
            value = sorted(allowed)[-1]  # '' (absent) sorts first: a value where there is one
            child, at, name = attr.partition("@")
            if at:
                if value:
                    etree.SubElement(el, child).set(name, value)
            elif value:
                el.set(attr, value)
        root = el if root is None else root
        parent = el
    assert parent is not None
    if not rule.attr.startswith("#"):
        parent.set(rule.attr, "1")
    return root


# Places libvirt's parser reads that its 9.0 schema does not list (so that only ``virsh
# define --validate`` refuses them): (pattern of "context@attribute", the parser's reason).
PARSER_BEYOND_SCHEMA = [
    (r"domain/devices/\w+(\[[^]]*\])?/(master\[1\]@startport|acpi\[1\]@index)",
     "virDomainDeviceInfoParseXML reads <master> and <acpi> on every device"),
    (r"domain/devices/tpm/backend\[@type=external\]/",
     "virDomainChrSourceDefParseXML reads a whole character device source there"),
    (r"domain/devices/tpm/backend\[@source@type=tcp\]\[@type=external\]/protocol@type",
     "the same: <protocol> of a TCP source"),
    (r"/auth\[1\]@type$", "virStorageAuthDefParse reads an auth type"),
    (r"domain/devices/(hostdev|interface)\[.*\]/source\[1\].*@(autoAddress|guestReset|"
     r"startupPolicy|writeFiltering|protocol|transport)$",
     "virDomainHostdevDefParseXMLSubsys parses an <interface type='hostdev'> as a <hostdev>"),
    (r"domain/devices/interface\[@type=hostdev\]@(rawio|sgio)$", "the same"),
    (r"domain/devices/controller\[@type=[a-z|]+\]@model$",
     "virDomainControllerModelTypeFromString refuses a model where the type has none"),
    (r"domain/devices/filesystem\[@type=volume\]/source\[1\]@mode$",
     "virDomainDiskSourcePoolDefParse reads a volume's mode"),
    (r"/source\[1\](\[[^]]*\])?/address\[1\]/zpci@(fid|uid)$",
     "virPCIDeviceAddressParseXML reads <zpci> in every PCI address, a source's too"),
    (r"domain/devices/interface\[@type=hostdev\]/source\[1\]\[@address@type=scsi\].*"
     r"/address\[1\]@(bus|target|unit)$", "the same, for a SCSI source address"),
]


def test_every_context_is_a_place_libvirts_schema_knows() -> None:
    """Each rule's element, under the conditions it is read in, and its attribute are names
    libvirt's schema knows there (``data/vocabulary.json``, the names check's table), but for
    the places the parser reads beyond the schema, each listed with its reason: a context the
    generator got wrong would never match a document libvirt accepts."""
    from augmenter.checks.names import unknown_names

    wrong = []
    for rule in table().rules:
        doc = _document_of(rule)
        if doc is None:
            continue
        if any(u.kind in ("element", "attribute") for u in unknown_names(doc).names):
            wrong.append(f"{rule.context_text}@{rule.attr}")
    unexplained = [w for w in wrong
                   if not any(re.search(p, w) for p, _ in PARSER_BEYOND_SCHEMA)]
    assert not unexplained, "\n".join(unexplained)
    stale = [p for p, _ in PARSER_BEYOND_SCHEMA if not any(re.search(p, w) for w in wrong)]
    assert not stale, stale


# ---- the number reader --------------------------------------------------------------------------

_LIBC = ctypes.CDLL(ctypes.util.find_library("c"))
_LIBC.strtoull.restype = ctypes.c_ulonglong
_LIBC.strtoull.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int]
_LIBC.strtoll.restype = ctypes.c_longlong
_LIBC.strtoll.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int]
_LIBC.__errno_location.restype = ctypes.POINTER(ctypes.c_int)


def _c_read(text: str, reader: str, base: int) -> int | None:
    """libvirt's virStrToLong_<reader> (src/util/virstring.c), over the real libc."""
    spec = numbers.READERS[reader]
    raw = text.encode("utf-8")
    buf = ctypes.create_string_buffer(raw)
    end = ctypes.c_char_p()
    errno = _LIBC.__errno_location()
    errno[0] = 0
    convert = _LIBC.strtoll if spec.signed else _LIBC.strtoull
    value = convert(ctypes.cast(buf, ctypes.c_char_p), ctypes.byref(end), base)
    start = ctypes.addressof(buf)
    consumed = (ctypes.cast(end, ctypes.c_void_p).value or start) - start
    if errno[0] != 0 or consumed == 0 or consumed != len(raw):
        return None  # ERANGE, no digits (p == s), or something left over (*p)
    minus = b"-" in raw[:consumed]
    if spec.signed:
        return value if spec.low <= value <= spec.high else None  # (int) val != val
    if minus and spec.negative == "refuse":
        return None  # the 'p' readers: memchr(s, '-', p - s)
    if spec.bits == 32:
        if minus:  # virStrToLong_ui: "-N" for N up to UINT_MAX, wrapped in 32 bits
            return None if (-value) % 2**64 > 2**32 - 1 else value & 0xFFFFFFFF
        return value if value <= spec.high else None
    return int(value)


NUMBERISH = st.text(alphabet=" \t\n+-0123456789abcdefxXABCDEF_.\u0665\uff15g", max_size=24)


@settings(max_examples=3000, derandomize=True, database=None)
@given(text=NUMBERISH, reader=st.sampled_from(sorted(numbers.READERS)),
       base=st.sampled_from([0, 8, 10, 16]))
def test_numbers_read_as_libcs_strtol_reads_them(text: str, reader: str, base: int) -> None:
    assert numbers.read(text, reader, base) == _c_read(text, reader, base)


@pytest.mark.parametrize(("text", "reader", "base", "value"), [
    ("0x1f", "uip", 0, 31), ("017", "uip", 0, 15), ("017", "uip", 10, 17),
    ("08", "uip", 0, None), ("0x", "uip", 16, None), (" 5", "uip", 10, 5),
    ("5 ", "uip", 10, None), ("+5", "uip", 10, 5), ("-1", "uip", 10, None),
    ("-1", "ui", 10, 2**32 - 1), ("-4294967296", "ui", 10, None), ("-1", "i", 10, -1),
    ("4294967296", "uip", 10, None), ("2147483648", "i", 10, None),
    ("18446744073709551616", "ullp", 10, None), ("0x0_5", "uip", 0, None),
    ("\u0665", "uip", 10, None), ("", "uip", 10, None), ("1e3", "uip", 10, None),
])
def test_numbers_as_libvirt_reads_them(text: str, reader: str, base: int,
                                       value: int | None) -> None:
    assert numbers.read(text, reader, base) == value
    assert _c_read(text, reader, base) == value


@pytest.mark.parametrize(("count", "unit", "scale", "message"), [
    ("1", "KiB", None, None), ("1", "kb", 1000, None), ("1", "bytes", 1, None),
    ("1", "MiBx", None, "unknown suffix 'MiBx'"), ("8", "EiB", None, "value too large: 8EiB"),
    ("7", "EiB", None, None), ("9223372036854775000", "b", None, "size value too large"),
    ("-1", None, None, "Invalid value '-1'"),
])
def test_sizes_as_virScaleInteger_reads_them(count: str, unit: str | None, scale: int | None,
                                             message: str | None) -> None:
    rule = next(r for r in table().rules if r.context_text == "domain/memory[1]")
    verdict = judge_scaled(rule, count, unit)
    assert (verdict.message if verdict else None) == message or (
        verdict is not None and message is not None and message in verdict.message)


# ---- one case per kind of rule ------------------------------------------------------------------

GUEST = """<domain type='qemu'>
  <name>values</name>
  <memory unit='{unit}'>{memory}</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <features><acpi/>{feature}</features>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    {device}
  </devices>
</domain>
"""
DISK = ("<disk type='file' device='disk'{disk}><source file='/var/lib/libvirt/images/v.qcow2'/>"
        "<driver name='qemu' type='qcow2'{driver}/><target dev='vda' bus='{bus}'/>{boot}</disk>")


def guest(memory: str = "256", unit: str = "MiB", feature: str = "", device: str = "",
          **disk: str) -> str:
    parts = {"disk": "", "driver": "", "bus": "virtio", "boot": ""} | disk
    return GUEST.format(memory=memory, unit=unit, feature=feature,
                        device=device or DISK.format(**parts))


NIC = ("<interface type='user'><model type='e1000'/>"
       "<address type='pci' domain='0' bus='{bus}' slot='5' function='0'/></interface>")

NUMA = guest().replace("<features>", """<vcpu>2</vcpu>
  <cpu><numa><cell id='0' cpus='0-1' memory='256' unit='MiB'>
    <cache level='{level}' associativity='direct' policy='writeback'>
      <size value='10' unit='KiB'/><line value='8' unit='B'/></cache>
  </cell></numa></cpu>
  <features>""")


@dataclass(frozen=True)
class ValueCase:
    id: str
    kind: str
    good: str  # the guest with a value libvirt accepts
    bad: str  # the same guest with the value it refuses
    line: int  # the line of the bad value
    says: str  # libvirt's words (after its "XML error: " and kin)


CASES = [
    ValueCase("enum", "enum", guest(), guest(bus="virtoi"), 8,
              "Invalid value for attribute 'bus' in element 'target': 'virtoi'."),
    ValueCase("enum-own-words", "enum", guest(driver=" cache='none'"),
              guest(driver=" cache='nocache'"), 8,
              "Invalid value for attribute 'cache' in element 'driver': 'nocache'."),
    ValueCase("enum-default-excluded", "enum", guest(driver=" io='native' cache='none'"),
              guest(driver=" io='default' cache='none'"), 8,
              "Invalid value for attribute 'io' in element 'driver': 'default'."),
    ValueCase("yes-no", "bool", guest(device="<graphics type='spice' autoport='yes'/>"),
              guest(device="<graphics type='spice' autoport='on'/>"), 8,
              "Invalid value for attribute 'autoport' in element 'graphics': 'on'."),
    ValueCase("on-off", "bool", guest(driver=" ioeventfd='on'"),
              guest(driver=" ioeventfd='yes'"), 8,
              "Invalid value for attribute 'ioeventfd' in element 'driver': 'yes'."),
    ValueCase("unsigned", "unsigned", guest(driver=" queues='2'"),
              guest(driver=" queues='-2'"), 8,
              "Invalid value for attribute 'queues' in element 'driver': '-2'. "
              "Expected non-negative integer value"),
    ValueCase("unsigned-overflow", "unsigned", guest(driver=" queues='2'"),
              guest(driver=" queues='4294967296'"), 8,
              "Invalid value for attribute 'queues' in element 'driver': '4294967296'. "
              "Expected non-negative integer value"),
    ValueCase("signed", "signed",
              guest(device="<controller type='usb' model='qemu-xhci' ports='8'/>"),
              guest(device="<controller type='usb' model='qemu-xhci' ports='8x'/>"), 8,
              "Invalid value for attribute 'ports' in element 'controller': '8x'. "
              "Expected integer value"),
    ValueCase("signed-not-negative", "signed",
              guest(device="<controller type='usb' model='qemu-xhci' ports='8'/>"),
              guest(device="<controller type='usb' model='qemu-xhci' ports='-8'/>"), 8,
              "Invalid value for attribute 'ports' in element 'controller': '-8'. "
              "Expected non-negative value"),
    ValueCase("base-10-refuses-hex", "base", guest(driver=" queues='16'"),
              guest(driver=" queues='0x10'"), 8,
              "Invalid value for attribute 'queues' in element 'driver': '0x10'. "
              "Expected non-negative integer value"),
    ValueCase("base-0-refuses-8-in-octal", "base",
              guest(device="<hostdev mode='subsystem' type='usb'><source><vendor id='0x1d6b'/>"
                           "<product id='010'/></source></hostdev>"),
              guest(device="<hostdev mode='subsystem' type='usb'><source><vendor id='0x1d6b'/>"
                           "<product id='08'/></source></hostdev>"), 8,
              "Invalid value for attribute 'id' in element 'product': '08'. "
              "Expected non-negative integer value"),
    ValueCase("range", "range",
              guest(device="<interface type='user'><vlan><tag id='4095'/></vlan></interface>"),
              guest(device="<interface type='user'><vlan><tag id='4096'/></vlan></interface>"),
              8, "vlan tag id 4096 too large (maximum 4095)"),
    ValueCase("zero", "range", guest(boot="<boot order='1'/>"), guest(boot="<boot order='0'/>"),
              8, "Invalid value for attribute 'order' in element 'boot': "
                  "Zero is not permitted"),
    ValueCase("zero-in-its-own-words", "range", NUMA.format(level="1"), NUMA.format(level="0"),
              7, "Invalid 'level' attribute in cache element for NUMA node 0"),
    ValueCase("size", "scaled", guest(memory="256"), guest(memory="256MiB"), 3,
              "Invalid value '256MiB' for element or attribute './memory[1]'"),
    ValueCase("size-unit", "scaled", guest(unit="MB"), guest(unit="MiBs"), 3,
              "unknown suffix 'MiBs'"),
    ValueCase("size-overflow", "scaled", guest(memory="7", unit="PiB"),
              guest(memory="8", unit="EiB"), 3, "value too large: 8EiB"),
    ValueCase("required", "required", guest(device="<sound model='ich9'/>"),
              guest(device="<sound/>"), 8,
              "Missing required attribute 'model' in element 'sound'"),
    ValueCase("address-field", "unsigned", guest(device=NIC.format(bus="0x01")),
              guest(device=NIC.format(bus="0x0_1")), 8,
              "Invalid value for attribute 'bus' in element 'address': '0x0_1'. "
              "Expected non-negative integer value"),
    ValueCase("address-switch", "bool", guest(device=NIC.format(bus="0' multifunction='on")),
              guest(device=NIC.format(bus="0' multifunction='yes")), 8,
              "Invalid value for attribute 'multifunction' in element 'address': 'yes'."),
    ValueCase("address-type", "required", guest(device=NIC.format(bus="0")),
              guest(device=NIC.format(bus="0").replace("type='pci' ", "")), 8,
              "No type specified for device address"),
    ValueCase("controller-index", "signed",
              guest(device="<controller type='usb' index='0' model='qemu-xhci'/>"),
              guest(device="<controller type='usb' index='\uff10' model='qemu-xhci'/>"), 8,
              "Invalid value for attribute 'index' in element 'controller': '\uff10'. "
              "Expected integer value"),
    ValueCase("element-name", "enum", guest(feature="<pae/>"), guest(feature="<paee/>"), 5,
              "unexpected feature 'paee'"),
]


def _errors(xml: str) -> list[augmenter.Finding]:
    return [f for f in augmenter.check(xml, EMBEDDED) if f.severity == "error"]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_check_refuses_the_bad_value_with_libvirts_words(case: ValueCase) -> None:
    errors = _errors(case.bad)
    assert [(f.line, f.message) for f in errors] == [(case.line, case.says)], errors
    assert errors[0].code in (values.INVALID, values.MISSING)
    assert errors[0].hint


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_check_accepts_the_good_value(case: ValueCase) -> None:
    assert not [f for f in augmenter.check(case.good, EMBEDDED)
                if f.code in (values.INVALID, values.MISSING)]


def test_every_kind_has_a_case() -> None:
    assert {c.kind for c in CASES} == {"enum", "bool", "unsigned", "signed", "base", "range",
                                       "scaled", "required"}


def test_augment_refuses_what_check_refuses() -> None:
    """``augment`` stops on the same finding before it places anything: no value is read as 0
    or replaced on the way."""
    for case in CASES:
        with pytest.raises(augmenter.InvalidDomain) as err:
            augmenter.run(case.bad, EMBEDDED)
        assert err.value.findings == _errors(case.bad)


LEADING_ZERO = guest(device="<controller type='virtio-serial' index='0' ports='010'/>"
                           "<channel type='pty'><target type='virtio' name='a.b'/>"
                           "<address type='virtio-serial' controller='0' bus='0' port='9'/>"
                           "</channel>")


def test_placement_reads_a_number_as_libvirt_does() -> None:
    """``ports='010'`` is ten ports to libvirt (virXMLPropInt, base 10), not eight (C's octal
    of base 0): port 9 is there. Placement and the checks read it through the same reader."""
    assert not _errors(LEADING_ZERO)
    out = augmenter.run(LEADING_ZERO, EMBEDDED).to_string()
    assert "port='9'" in out or 'port="9"' in out


@pytest.mark.slow
def test_libvirtd_reads_the_number_so_too(tmp_path: Path) -> None:
    accepted, message = _define(LEADING_ZERO, "leading-zero", tmp_path)
    assert accepted, message


def test_every_bad_value_of_a_document_is_reported_at_its_line() -> None:
    xml = guest(memory="x", bus="virtoi", driver=" ioeventfd='yes'")
    found = [(f.line, f.message.split(":")[0]) for f in _errors(xml)]
    assert [line for line, _ in found] == [3, 8, 8]


def test_a_hint_lists_the_accepted_values_nearest_first() -> None:
    (f,) = _errors(guest(bus="VirtIO"))
    assert f.hint is not None and f.hint.startswith("expected 'virtio'")


def test_an_element_libvirt_reads_once_is_judged_once() -> None:
    """libvirt reads the first <target> of a disk (virXPathNode): a second one is not its
    business here (it is dropped, which the names check reports)."""
    xml = guest().replace("<target dev='vda' bus='virtio'/>",
                          "<target dev='vda' bus='virtio'/><target dev='vdb' bus='nope'/>")
    assert not _errors(xml)


def test_values_out_of_the_parsers_reach_are_not_judged() -> None:
    """A value libvirt never reads (it belongs to another type of device, or sits under
    <metadata>) is not refused: only the conditions libvirt parses under apply."""
    vnc = "<graphics type='vnc' autoport='maybe'/>"  # VNC's autoport is read leniently
    assert not _errors(guest(device=vnc))
    spice = "<graphics type='spice' autoport='maybe'/>"
    assert [f.message for f in _errors(guest(device=spice))] == [
        "Invalid value for attribute 'autoport' in element 'graphics': 'maybe'."]
    meta = guest().replace("<features>", "<metadata><x:memory xmlns:x='urn:x' unit='nope'/>"
                                         "</metadata><features>")
    assert not _errors(meta)


# ---- libvirtd says the same ------------------------------------------------------------------


def _define(xml: str, label: str, folder: Path) -> tuple[bool, str]:
    """Define in the shared libvirtd under a name of this branch and process, undefine:
    (accepted, libvirt's message without virsh's framing)."""
    libvirt_or_skip()
    name = f"augmenter-values-{os.getpid()}-{label}"[:60]
    root = etree.fromstring(xml.encode())
    name_el = root.find("name")
    assert name_el is not None
    name_el.text = name
    path = folder / f"{name}.xml"
    path.write_bytes(etree.tostring(root))
    done = subprocess.run(["virsh", "-c", "qemu:///system", f"define {path}; undefine {name}"],
                          capture_output=True, text=True, timeout=60, check=False)
    lines = [ln.removeprefix("error: ").strip() for ln in done.stderr.splitlines()]
    message = " ".join(ln for ln in lines if ln and not ln.startswith(
        ("Failed to define", "failed to get domain")))
    accepted = "defined from" in done.stdout
    return accepted, message


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_libvirtd_refuses_the_bad_value_with_the_same_words(case: ValueCase,
                                                            tmp_path: Path) -> None:
    accepted, message = _define(case.bad, f"{case.id}-bad", tmp_path)
    assert not accepted
    assert message.endswith(case.says), message


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_libvirtd_accepts_the_good_value(case: ValueCase, tmp_path: Path) -> None:
    accepted, message = _define(case.good, f"{case.id}-good", tmp_path)
    assert accepted, message


@pytest.mark.parametrize("kind", sorted(ADDRESS_FIELDS))
def test_an_address_field_libvirt_cannot_read_is_refused_once_in_the_models_words(
        kind: str) -> None:
    """A field's syntax is the model's declaration (model.values.ADDRESS_FIELDS): the table
    refuses what the model's reader refuses, in the same words, and the reader marks it
    :class:`Unreadable` so that no later check says it again."""
    for field in ADDRESS_FIELDS[kind]:
        others = " ".join(f"{f.name}='1'" for f in ADDRESS_FIELDS[kind] if f is not field)
        xml = (f"<domain type='kvm'><devices><disk type='file' device='disk'>"
               f"<address type='{kind}' {others} {field.name}='-1'/></disk></devices></domain>")
        root = etree.fromstring(xml)
        address = root.find("devices/disk/address")
        with pytest.raises(Unreadable) as refused:
            read_address(address)
        found = [f.message for f in values.findings(root)]
        assert found == [refused.value.message], (kind, field.name)


# ---- the walk's plan: a lookup that answers as testing every context would ------------------

_CONTEXT_DOCS = st.builds(
    lambda kind, attrs, child: (
        f"<domain type='kvm'><devices><{kind}"
        + "".join(f" {n}='{v}'" for n, v in attrs.items())
        + f">{child}</{kind}></devices></domain>"),
    st.sampled_from(["graphics", "smartcard", "hostdev", "tpm", "interface", "controller"]),
    st.dictionaries(st.sampled_from(["type", "mode", "passwd", "model", "connected", "managed"]),
                    st.sampled_from(["vnc", "spice", "passthrough", "unix", "tcp", "subsystem",
                                     "usb", "scsi", "pci", "hostdev", "external", "x", ""]),
                    max_size=4),
    st.sampled_from(["", "<source type='unix' mode='x'/>", "<backend type='external'/>",
                     "<source><address type='usb'/><vendor id='x'/></source>",
                     "<address type='pci' bus='x'/>", "<protocol type='x'/>"]))


@settings(max_examples=300, deadline=None)
@given(_CONTEXT_DOCS)
def test_the_walk_finds_the_rules_testing_every_context_in_full_finds(doc: str) -> None:
    """``Plan`` looks most contexts up by one attribute's value and tests only what is left:
    the rules it finds at each element are those of testing each context whole."""
    root = etree.fromstring(doc)
    walked: dict[etree._Element, list[int]] = {}
    for el, _, groups in values._walk(root, table()):
        walked.setdefault(el, []).extend(id(r) for g in groups for r in g)
    full: dict[etree._Element, list[int]] = {}

    def visit(el: etree._Element, nodes: list[Node], chain: list[tuple[etree._Element, bool]]
              ) -> None:
        for n in nodes:
            for steps, rules in n.tests:
                if values._holds_here(steps, chain):
                    full.setdefault(el, []).extend(id(r) for r in rules)
        names: set[str] = set()
        for child in el:
            tag = str(child.tag)
            reached = [c for n in nodes for c in n.step(tag)]
            if reached:
                visit(child, reached, [*chain, (child, tag not in names)])
            names.add(tag)

    visit(root, table().root.step("domain"), [(root, True)])
    assert {el: sorted(ids) for el, ids in walked.items()} == \
        {el: sorted(ids) for el, ids in full.items()}


# ---- the findings' shortcuts: what judging every rule at every element finds ----------------

_VALUE_DOCS = st.builds(
    lambda kind, attrs, child, count: (
        "<domain type='kvm'><devices>"
        + (f"<{kind}" + "".join(f" {n}='{v}'" for n, v in attrs.items())
           + f">{child}</{kind}>") * count
        + "</devices></domain>"),
    st.sampled_from(["serial", "console", "channel", "disk", "controller", "graphics", "rng"]),
    st.dictionaries(st.sampled_from(["type", "mode", "model", "device", "index", "ports"]),
                    st.sampled_from(["pty", "unix", "file", "virtio", "usb", "pci", "spice",
                                     "disk", "0", "-1", "x", ""]),
                    max_size=3),
    st.sampled_from(["", "<target type='isa-serial' port='x'/>", "<source mode='x'/>",
                     "<target type='virtio'/><source path='/p'/>", "<model name='x'/>",
                     "<driver queues='0'/>", "<address type='pci' bus='x'/>"]),
    st.integers(1, 3))


@settings(max_examples=300, deadline=None)
@given(_VALUE_DOCS)
def test_the_findings_are_those_of_judging_every_rule_that_holds(doc: str) -> None:
    """:func:`values.findings` skips a rule about an attribute the element lacks, and an enum
    value the enum has, without judging them, and the walk answers a node whose contexts
    read nothing once for all its elements: it finds what judging each rule that holds at
    each element finds."""
    root = etree.fromstring(doc)
    slow = []
    seen: set[tuple[etree._Element, str, str]] = set()
    for rule, el, chain in values.applicable(root):
        found = values._verdict(rule, el)
        if found is None or (el, rule.attr, rule.kind) in seen:
            continue
        seen.add((el, rule.attr, rule.kind))
        slow.append((found[0], found[1].message, el.sourceline, values._device(chain),
                     found[1].hint))
    assert [(f.code, f.message, f.line, f.device, f.hint) for f in values.findings(root)] == slow


def test_an_enums_accepted_values_are_its_values() -> None:
    """The set the walk skips accepted values by is made from the rule's own values."""
    for rule in table().rules:
        assert rule.accepted == (frozenset(rule.values) if rule.kind == "enum" else frozenset())
