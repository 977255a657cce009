"""The augmenter's one-way pipeline: document -> records -> defaults -> placement -> document."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from lxml import etree

from .boards.lookup import lookup
from .boards.records import Board, BoardError, Emulator
from .boards.trust import refusal
from .checks import values
from .checks.findings import Finding, InvalidDomain, from_error
from .checks.firmware import placed_findings
from .checks.names import unknown_names
from .checks.rules import ordered, run_checks
from .checks.schema import validate as validate_schema
from .errors import AugmentError
from .model.addresses import complete
from .model.domain import Domain, load
from .placement import (
    ccw,
    convert,
    defaults,
    dense,
    hostaware,
    hotplug,
    pci,
    spapr,
    transports,
    usb,
    vserial,
)
from .placement.guest import Guest
from .policy.machines import UNOFFERED_MACHINES, family_of, preferred_machine
from .xml.document import parse_document
from .xml.write import Written, serialize, written


@dataclass
class Result:
    """What one run produced: the augmented tree and what it noticed on the way."""

    # the augmented tree, but for the children placement keeps as data (model.domain.Device:
    # sketches) until they are written, or :attr:`tree` is asked for
    _tree: etree._ElementTree
    guest: Guest
    original: bytes
    findings: list[Finding] = field(default_factory=list)  # warnings only: errors raise
    before: Written | None = None  # the tree as parsed, for the writer (xml.write.written)

    @property
    def tree(self) -> etree._ElementTree:
        """The augmented tree, whole (every sketched child made an element first)."""
        self.guest.dom.settle()
        return self._tree

    def to_bytes(self) -> bytes:
        dom = self.guest.dom
        return serialize(self._tree, self.original, before=self.before,
                         sketched=dom.sketched(), settle=dom.settle)

    def to_string(self) -> str:
        return self.to_bytes().decode(self._tree.docinfo.encoding or "utf-8")


@dataclass(frozen=True)
class Options:
    """How to run: where boards come from, and what to do beyond libvirt (docs/placement.md
    §20-§24; the command line's options of the same names)."""

    boards: str = "auto"  # auto | qemu | embedded
    reserve_hotplug: int | None = None  # exactly this many free hot-pluggable ports
    schema: bool = False  # also validate against libvirt's installed RelaxNG schema
    warn: Callable[[str], None] | None = None
    timeout: float | None = None  # seconds each QEMU gets to describe a board (None: default)
    # emulators a domain may name and have run besides the system's QEMUs (and those of
    # $AUGMENTER_EMULATORS): see augmenter.boards.trust
    allow_emulators: tuple[str, ...] = ()
    lock_occupied: bool = False  # hot plug off on ports holding what must not be ejected
    convert_to: str | None = None  # "q35" | "pc": re-home the guest first
    group_host_functions: bool = False  # functions of one host slot share a guest slot
    numa_aware: bool = False  # host devices behind their NUMA node's expander bus
    host_numa: str | None = None  # "0000:65:00.0=1,...": host nodes, not read from sysfs
    sysfs_root: str = "/sys"  # where the host's PCI devices are described
    firmware_advice: bool = False  # warn of firmware I/O windows (what --check adds)


def _emulator_for(dom: Domain, line: int | None, options: Options) -> Emulator:
    """The domain's emulator; the one its ``<emulator>`` names is run only when trusted
    (:mod:`augmenter.boards.trust`)."""
    emulator_el = dom.devices_el.find("emulator")
    path = emulator_el.text.strip() if emulator_el is not None and emulator_el.text else None
    not_run = refusal(path, options.allow_emulators) if path else None
    try:
        return lookup(dom.arch, path, options.boards, options.warn, options.timeout, not_run)
    except BoardError as err:
        raise AugmentError(err.message, line=line, hint=err.hint, code="no-board") from None


def _resolve_machine(emu: Emulator, machine: str | None, line: int | None) -> str:
    name = machine or preferred_machine(emu)
    if not name:
        raise AugmentError(f"no machine type given, and '{emu.binary}' has no default",
                           line=line, hint="write <type machine='...'> in <os>",
                           code="unknown-machine")
    canonical = emu.canonical(name)
    if canonical not in emu.machines or canonical in UNOFFERED_MACHINES:
        raise AugmentError(
            f"Emulator '{emu.binary}' does not support machine type '{name}'", line=line,
            hint=machine_hint(emu, name), code="unknown-machine")
    return canonical


def machine_hint(emu: Emulator, name: str) -> str:
    """The machine types nearest to a misspelt one, each alias with the versioned machine it
    stands for (``q35`` is ``pc-q35-7.2``), else the aliases: what a person meant is far more
    often a near spelling than one of the oldest versions."""
    import difflib

    names = sorted({*emu.aliases, *emu.machines})
    near = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if not near:
        near = difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.4)

    def spelt(machine: str) -> str:
        canonical = emu.aliases.get(machine)
        return f"'{machine}' ({canonical})" if canonical else f"'{machine}'"

    if near:
        return f"did you mean {' or '.join(spelt(m) for m in near)}?"
    aliases = ", ".join(spelt(a) for a in sorted(emu.aliases))
    return f"machine types it has include {aliases}; 'augment-boards list' shows every one"


def make_guest(tree: etree._ElementTree, options: Options = Options()) -> Guest:
    dom = load(tree.getroot())
    if dom.os_type is None:  # libvirt: the QEMU driver needs to know what it boots
        raise AugmentError("an os <type> must be specified", line=dom.root.sourceline,
                           hint="write <os><type arch='x86_64' machine='q35'>hvm</type></os>",
                           code="missing-element")
    line = dom.os_type.sourceline
    emu = _emulator_for(dom, line, options)
    if dom.root.get("type") == "qemu" and not emu.tcg:
        # virQEMUCapsIsVirtTypeSupported: domain type 'qemu' is TCG
        raise AugmentError(f"Emulator '{emu.binary}' does not support virt type 'qemu'",
                           line=dom.root.sourceline, hint="write <domain type='kvm'> on a host "
                           "with KVM, or use a QEMU built with TCG", code="virt-type")
    changes: list[convert.Change] = []
    if options.convert_to:  # docs/placement.md §24
        changes = convert.convert(dom, options.convert_to, emu)
        dom = load(tree.getroot())
    machine = _resolve_machine(emu, dom.machine, line)
    family = family_of(dom.arch, machine)
    board = None
    if family is None or family.needs_board:
        board = _board_for(emu, machine, line)
        if board is None and family is not None:
            # the family's rules read the board (its built-in slots): without it, a guess
            raise no_board(emu, machine, line)
    guest = Guest(dom, emu, machine, family, board, reserve_hotplug=options.reserve_hotplug)
    guest.conversion = changes
    return guest


def no_board(emu: Emulator, machine: str, line: int | None) -> AugmentError:
    """The error for a machine whose rules read a board nobody can describe: the cache, QEMU
    and the shipped table all lack it (``emu.failures`` says why)."""
    why = emu.failures.get(machine) or f"the {emu.source} board table has no board for it"
    return AugmentError(
        f"no description of machine type '{machine}' to place devices on: {why}", line=line,
        hint="install the QEMU that has this machine type, or see 'augment-boards show "
             f"{machine} --emulator {emu.binary}' for why it cannot describe the board")


def _board_for(emu: Emulator, machine: str, line: int | None) -> Board | None:
    try:
        return emu.board(machine)
    except BoardError as err:
        raise AugmentError(err.message, line=line, hint=err.hint) from None


def prepare(guest: Guest) -> None:
    """libvirt's post-parse defaults that come before any check (docs/placement.md §1, 1-3)."""
    for dev in guest.dom.devices:
        complete(dev)
    defaults.fill_input_buses(guest)
    defaults.fill_console_targets(guest)
    defaults.fill_parallel_targets(guest)
    defaults.put_primary_video_first(guest)
    defaults.fill_controller_indexes(guest)
    defaults.add_machine_defaults(guest)
    defaults.fill_controller_models(guest)
    defaults.fill_device_models(guest)


def place(guest: Guest, options: Options = Options()) -> None:
    """Implicit devices, then every address: the rest of libvirt's pipeline, with what the
    options ask beyond it."""
    defaults.drop_ignored_addresses(guest)
    # after the checks: virDomainChrIsaSerialDefPostParse judges the target types as written
    defaults.fill_serial_targets(guest)
    defaults.validate_drive_buses(guest)
    defaults.assign_drive_addresses(guest)
    defaults.assign_scsi_hostdev_addresses(guest)
    defaults.add_console_compat(guest)
    defaults.add_implicit_controllers(guest)
    defaults.add_implicit_video(guest)
    defaults.fill_controller_models(guest)
    defaults.add_ich9_masters(guest)
    vserial.assign(guest)
    spapr.assign(guest)
    transports.prime(guest)
    ccw.assign(guest)
    host_aware(guest, options)
    needs = pci.Needs(guest)  # each device's PCI class and flags, for both placements
    try:
        pci.assign(guest, needs)
    except pci.Exhausted as why:  # where libvirt gives up (docs/placement.md §20)
        dense.assign(guest, why, needs)
    if options.lock_occupied:
        hotplug.lock_occupied(guest)
    hotplug.report(guest)
    pci.assign_zpci(guest)
    usb.assign(guest)
    usb.assign_ccid(guest)
    defaults.assign_dimm_slots(guest)
    defaults.mirror_console_address(guest)
    if guest.dom.os_type is not None:
        guest.dom.os_type.set("machine", guest.machine)


def host_aware(guest: Guest, options: Options) -> None:
    """``--group-host-functions`` and ``--numa-aware`` (docs/placement.md §22, §23)."""
    if options.group_host_functions:
        hostaware.group_functions(guest)
    if options.numa_aware or options.host_numa:
        try:
            nodes = hostaware.parse_host_numa(options.host_numa) if options.host_numa else None
        except ValueError as err:
            raise AugmentError(f"--host-numa: {err}") from None
        hostaware.numa_place(guest, nodes, Path(options.sysfs_root))


def augment_tree(tree: etree._ElementTree,
                 options: Options = Options()) -> tuple[Guest, list[Finding]]:
    """Check, then augment a parsed document in place. Raises :class:`InvalidDomain` listing
    every finding when the definition has errors."""
    invalid = validate_schema(tree) if options.schema else []  # before anything is added
    refused = values.check_tree(tree)  # libvirt's parser refuses these before anything else
    if refused:
        raise InvalidDomain(ordered([*invalid, *refused]))
    try:
        guest = make_guest(tree, options)
    except AugmentError as err:
        if invalid:
            raise InvalidDomain([*invalid, from_error(err)]) from None
        raise
    written = unknown_names(guest.dom.root)  # judged as written, before the defaults
    prepare(guest)
    checked = run_checks(guest, written)  # in order already: sorted again only beside the schema's
    findings = ordered([*invalid, *checked]) if invalid else checked
    if any(f.severity == "error" for f in findings):
        raise InvalidDomain(findings)
    try:
        place(guest, options)
    except AugmentError as err:
        raise InvalidDomain([*findings, from_error(err)]) from None
    return guest, [*findings, *placed_findings(guest, options.firmware_advice)]


def attempt(data: bytes | str,
            options: Options = Options()) -> tuple[Result | None, list[Finding]]:
    """:func:`run`, a bad domain reported rather than raised: (the result, or None when the
    document has errors; every finding, its warnings or its problems)."""
    try:
        result = run(data, options)
    except InvalidDomain as err:
        return None, err.findings
    except AugmentError as err:
        return None, [from_error(err)]
    return result, result.findings


def check(data: bytes | str, options: Options = Options()) -> list[Finding]:
    """Every finding for a document, errors and warnings; never raises for a bad domain."""
    return attempt(data, replace(options, firmware_advice=True))[1]


def run(data: bytes | str, options: Options = Options()) -> Result:
    """Augment a document given as bytes or text."""
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else data
    except UnicodeEncodeError as exc:
        raise AugmentError(f"the text is not valid Unicode: {exc.reason}", line=1,
                           code="syntax") from None
    parse_from = raw
    if isinstance(data, str) and raw.lstrip().startswith(b"<?xml") and b"?>" in raw:
        # text carries no encoding of its own: parse it as the UTF-8 it now is
        decl_end = raw.index(b"?>") + 2
        parse_from = b'<?xml version="1.0" encoding="UTF-8"?>' + raw[decl_end:]
    tree = parse_document(parse_from)
    before = written(tree)  # what the writer compares with: far smaller than a second tree
    guest, findings = augment_tree(tree, options)
    return Result(tree, guest, raw, findings, before)
