"""The checks' shortcuts for many alike devices find what judging each device finds.

A guest may hold half a million serial ports or consoles (issue 18, Build 1), so the
character-device checks judge a port's written target type and model once per pair
(``models.check_serials``), a source-less device's type once (``models.check_chr_sources``),
look at the virtio-serial controllers only when some device has a written port
(``rules.check_virtio_serial``), and find the devices with a ``<boot>`` once
(``platform.check_boot``). Each test here runs the rule on generated guests and compares it
with the plain per-device walk it replaced, written out below.
"""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from augmenter.checks import models, platform, rules
from augmenter.checks.findings import Finding, make
from augmenter.checks.located import on
from augmenter.errors import AugmentError
from augmenter.model.values import VirtioSerialValue
from augmenter.pipeline import Options, make_guest, prepare
from augmenter.placement import vserial
from augmenter.placement.guest import Guest
from augmenter.policy.machines import S390
from augmenter.policy.messages import vserial_no_controller
from augmenter.xml.document import parse_document

EMBEDDED = Options(boards="embedded")
MACHINES = [("x86_64", "q35"), ("x86_64", "pc"), ("ppc64", "pseries"),
            ("s390x", "s390-ccw-virtio"), ("aarch64", "virt")]

_TARGETS = ["", "<target/>", "<target type='isa-serial'/>", "<target type='usb-serial'/>",
            "<target type='pci-serial'/>", "<target type='system-serial'/>",
            "<target type='spapr-vio-serial'/>", "<target type='sclp-serial'/>",
            "<target type='isa-debug'/>", "<target type='serial'/>", "<target type='virtio'/>",
            "<target type='isa-serial'><model name='pl011'/></target>",
            "<target type='system-serial'><model name='16550a'/></target>",
            "<target><model name='spapr-vty'/></target>",
            "<target type='sclp-serial'><model name='sclplmconsole'/></target>"]
_SOURCES = ["", "<source path='/tmp/x'/>", "<source host='h' service='1'/>",
            "<source mode='bind'/>", "<source path='/a'/><source path='/b'/>",
            "<source mode='connect' service='5'/>"]
_ADDRESSES = ["", "<address type='virtio-serial' controller='0' bus='0' port='2'/>",
              "<address type='virtio-serial' controller='3' bus='0' port='1'/>",
              "<address type='isa' iobase='0x3f8'/>", "<boot order='1'/>"]
_DEVICE = st.tuples(
    st.sampled_from(["serial", "console", "channel", "parallel"]),
    st.sampled_from(["pty", "file", "tcp", "udp", "unix", "spicevmc", "null", "dev"]),
    st.sampled_from(_TARGETS), st.sampled_from(_SOURCES), st.sampled_from(_ADDRESSES))
_GUESTS = st.tuples(st.sampled_from(MACHINES), st.lists(_DEVICE, min_size=1, max_size=12))


def guest_of(machine: tuple[str, str], devices: list[tuple[str, str, str, str, str]]
             ) -> Guest | None:
    """The guest as the checks see it (libvirt's post-parse defaults done); None when the
    pipeline refuses it before the checks."""
    body = "".join(f"<{tag} type='{kind}'>{source}{target}{address}</{tag}>\n"
                   for tag, kind, target, source, address in devices)
    xml = (f"<domain type='qemu'><name>g</name><memory>262144</memory><os><type "
           f"arch='{machine[0]}' machine='{machine[1]}'>hvm</type></os><devices>\n{body}"
           "</devices></domain>")
    try:
        guest = make_guest(parse_document(xml.encode()), EMBEDDED)
    except AugmentError:  # a guest the pipeline refuses is not a case here
        return None
    prepare(guest)
    return guest


def serials_each(guest: Guest) -> Iterator[Finding]:
    """``check_serials`` judging every port (no pairs kept)."""
    for serial in models._each(guest, "serial"):
        verdict = models._serial_verdict(guest, *models.serial_target(guest, serial))
        if verdict is not None:
            yield on(serial, "serial-target", *verdict, el=serial.child("target"))
    if guest.dom.arch in S390 or platform.is_pseries(guest):
        for port in models._each(guest, "parallel"):
            yield on(port, "serial-target", "parallel ports are not supported",
                     "this machine has no parallel port; remove it")


def chr_sources_each(guest: Guest) -> Iterator[Finding]:
    """``check_chr_sources`` judging every device's sources."""
    spice = any(g.get("type") == "spice" for g in guest.dom.root.findall("devices/graphics"))
    for dev, holder, kind in models._chr_sources(guest):
        sources = list(holder.iterchildren("source"))
        if len(sources) > 1 and kind != "udp":
            yield on(dev, "chardev", "only one source element is allowed for character device",
                     "keep one <source>", el=sources[1])
            continue
        finding = models._chr_source(dev, holder, kind, sources[0] if sources else None,
                                     spice)
        if finding is not None:
            yield finding


def virtio_serial_each(guest: Guest) -> Iterator[Finding]:
    """``check_virtio_serial`` with the controllers' ports worked out first, always."""
    ports = {c.index: vserial.port_count(c)
             for c in guest.dom.controllers if c.type == "virtio-serial"}
    for dev in guest.dom.of("channel") + guest.dom.of("console"):
        if dev.target("type") == "virtio":
            value = dev.addr
            index = value.controller if isinstance(value, VirtioSerialValue) else 0
            ports.setdefault(index, vserial.DEFAULT_PORTS)
    devices = []
    for dev in guest.dom.iterate():
        written = vserial.written_port(dev)
        if written is None or (dev.tag == "console" and dev.target("type") != "virtio"):
            continue
        if written[0] in ports:
            devices.append(dev)
        else:
            yield rules.finding(dev, "vserial-out-of-range", vserial_no_controller(written[0]),
                                "add the controller, or leave the address out")
    for problem in vserial.reserve_written(devices, ports.get, {}):
        dev = problem.dev
        if problem.other is not None:
            yield rules.finding(dev, problem.code, f"{dev.name()}: {problem.message} by "
                                f"{problem.other.name()}", "leave the address out")
        else:
            yield rules.finding(dev, problem.code, problem.message,
                                f"ports are 1 to {problem.ports - 1}")


@settings(max_examples=150, deadline=None)
@given(_GUESTS)
def test_serial_ports_judged_per_pair_as_each_port(case: tuple[tuple[str, str], list[
        tuple[str, str, str, str, str]]]) -> None:
    guest = guest_of(*case)
    if guest is not None:
        assert list(models.check_serials(guest)) == list(serials_each(guest))


@settings(max_examples=150, deadline=None)
@given(_GUESTS)
def test_sourceless_devices_judged_per_type_as_each_device(case: tuple[tuple[str, str], list[
        tuple[str, str, str, str, str]]]) -> None:
    guest = guest_of(*case)
    if guest is not None:
        assert list(models.check_chr_sources(guest)) == list(chr_sources_each(guest))


@settings(max_examples=150, deadline=None)
@given(_GUESTS)
def test_virtio_serial_ports_checked_as_with_the_controllers_first(case: tuple[tuple[
        str, str], list[tuple[str, str, str, str, str]]]) -> None:
    guest = guest_of(*case)
    if guest is not None:
        assert list(rules.check_virtio_serial(guest)) == list(virtio_serial_each(guest))


def test_the_generated_guests_reach_every_shortcut() -> None:
    """The cases above hold the shortcuts to something: a port judged by its pair, a
    source-less device judged wrong by its type, a virtio-serial port out of range."""
    pair = guest_of(("x86_64", "q35"), [("serial", "pty", "<target type='sclp-serial'/>", "",
                                         "")] * 2)
    assert pair is not None and len(list(models.check_serials(pair))) == 2
    file = guest_of(("x86_64", "q35"), [("serial", "file", "", "", "")] * 2)
    assert file is not None and len(list(models.check_chr_sources(file))) == 2
    port = guest_of(("x86_64", "q35"), [("serial", "pty", "", "", _ADDRESSES[2])])
    assert port is not None and [f.code for f in rules.check_virtio_serial(port)] == [
        "vserial-out-of-range"]
    booted = guest_of(("x86_64", "q35"), [("serial", "pty", "", "", "")])
    assert booted is not None and not list(platform.check_boot(booted))


_FINDINGS = st.lists(st.builds(
    Finding, st.sampled_from(["a", "b", "unlisted-value", "duplicate-element"]),
    st.sampled_from(["error", "warning"]), st.sampled_from(["m", "n"]),
    st.one_of(st.none(), st.integers(0, 5))), max_size=30)


@settings(max_examples=300, deadline=None)
@given(_FINDINGS)
def test_findings_ordered_by_line_then_errors_then_code(findings: list[Finding]) -> None:
    """``rules.ordered`` sorts by three stable sorts where every line is a number: the order
    of one sort by (line, not an error, code), findings of equal keys as they came."""
    findings = [f._replace(message=str(i)) for i, f in enumerate(findings)]  # each its own
    expected = sorted(findings, key=lambda f: (f.line or 0, f.severity != "error", f.code))
    assert rules.ordered(findings) == expected
    numbered = [f._replace(line=f.line or 0) for f in findings]
    assert rules.ordered(numbered) == sorted(
        numbered, key=lambda f: (f.line, f.severity != "error", f.code))


@given(_FINDINGS)
def test_a_finding_made_fast_is_the_named_tuple(findings: list[Finding]) -> None:
    """``findings.make`` (``tuple.__new__``) makes the same :class:`Finding` as its own
    constructor: its type, fields and record."""
    for f in findings:
        made = make(*f)
        assert type(made) is Finding and made == f and made.as_dict() == f.as_dict()


@settings(max_examples=100, deadline=None)
@given(_GUESTS, st.sampled_from(["Only the first console can be a serial port",
                                 "console pty: already named", "serial pty"]))
def test_one_refusal_of_many_devices_is_each_devices_finding(case: tuple[tuple[
        str, str], list[tuple[str, str, str, str, str]]], message: str) -> None:
    """``rules.alike`` names each device at the head of the message once per name: the
    findings of :func:`rules.finding` for each device, lines and names alike."""
    guest = guest_of(*case)
    if guest is not None:
        devices = list(guest.dom.iterate())
        assert list(rules.alike(devices, "c", message, "h")) == [
            rules.finding(dev, "c", message, "h") for dev in devices]


@given(_FINDINGS)
def test_a_second_finding_on_a_refused_line_is_dropped_or_all_are_kept(
        findings: list[Finding]) -> None:
    """``rules._unshadowed`` returns the findings as they are when none has a code an error
    shadows, else drops those on a line with an error: as filtering every time does."""
    refused = {f.line for f in findings if f.severity == "error"}
    assert rules._unshadowed(findings) == [
        f for f in findings if f.code not in rules.SHADOWED or f.line not in refused]
