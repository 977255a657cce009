"""Every machine type of every installed QEMU, one raw guest each: libvirt, augment, QEMU.

The survey of issue 16. For each ``/usr/bin/qemu-system-*`` binary and each machine type its
``-machine help`` lists (aliases and ``none`` included), it builds the raw guest the issue names
(a virtio disk and a virtio NIC, nothing else; domain type ``qemu``, the binary as
``<emulator>``, the binary's libvirt arch) and records:

1. whether libvirtd defines it, and its ``dumpxml --inactive`` (or its error);
2. what ``augment`` does with it, through its command line like any user (output or error);
3. whether augment's output equals libvirt's own placement, and whether libvirtd defines
   augment's output unchanged (devices, their models, controllers and addresses, compared as
   :class:`libvirt_env.Topology` does, plus each device's element, type and model);
4. where QEMU can start the board (``virsh start --paused``): augment's output when libvirt
   took it, else libvirt's own placement; and whether ``info qtree`` shows every device with a
   PCI, CCW or virtio-mmio address where the XML says.

Shared by ``bench/survey_machines.py`` (the whole survey, written to ``bench/survey.md`` and
``bench/survey.json``) and ``tests/test_machine_survey.py`` (the same survey as tests, with
today's known mismatches as strict xfails). Domains are named ``survey-<pid>-<n>-...`` and are
undefined (and destroyed) after every step; augment runs with a private board cache, so the
user's is neither read nor written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from libvirt_env import Topology, topology_diff
from lxml import etree

from augmenter.cli.verify import (
    VerifyError,
    Virsh,
    boot_copy,
    compare_with_qemu,
    device_entries,
    parse_qtree,
)

Placement = dict[str, str]  # device key -> "element type model [target] @ address"

QEMU_DIR = Path("/usr/bin")
DEFINE_JOBS = 4  # libvirtd takes define round trips in parallel
BOOT_JOBS = 3  # a paused start is ~1 s, libvirt's stop ~2 s of waiting
AUGMENT_TIMEOUT = 120.0  # seconds for one augment process (it may introspect a board)
BOOT_TIMEOUT = 60.0

# qemu-system-SUFFIX -> libvirt arch (virArchData); a suffix with no libvirt arch is used as is,
# and libvirt refuses it ("Unknown architecture"), as it would any guest of that arch.
ARCH_OF = {
    "arm": "armv7l",
    "hppa": "parisc",
    "i386": "i686",
    "or1k": "openrisc",
    "x86_64-microvm": "x86_64",
}


def name_prefix() -> str:
    """Every domain of this process's survey starts with this."""
    return f"survey-{os.getpid()}-"


# ---- what is installed -----------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class MachineType:
    """One line of ``qemu-system-X -machine help``."""

    binary: str  # path
    machine: str
    alias_of: str = ""  # the versioned machine an alias stands for

    @property
    def binary_name(self) -> str:
        return Path(self.binary).name

    @property
    def arch(self) -> str:
        suffix = self.binary_name.removeprefix("qemu-system-")
        return ARCH_OF.get(suffix, suffix)

    @property
    def key(self) -> str:
        """``qemu-system-arm:vexpress-a9``: the id in tables and tests."""
        return f"{self.binary_name}:{self.machine}"


def installed_binaries(folder: Path = QEMU_DIR) -> list[str]:
    """Every ``qemu-system-*`` in ``folder``, sorted."""
    return sorted(str(p) for p in folder.glob("qemu-system-*")
                  if p.is_file() and os.access(p, os.X_OK))


_ALIAS = re.compile(r"\(alias of ([^)]+)\)")


def machine_types(binary: str) -> list[MachineType]:
    """The machine types ``binary -machine help`` lists, in its order."""
    done = subprocess.run([binary, "-machine", "help"], capture_output=True, text=True,
                          timeout=60, check=False)
    out: list[MachineType] = []
    for line in done.stdout.splitlines()[1:]:
        if not line.strip() or line.startswith(" "):
            continue
        name = line.split()[0]
        m = _ALIAS.search(line)
        out.append(MachineType(binary, name, m.group(1) if m else ""))
    return out


def all_machine_types(binaries: Iterable[str] | None = None) -> list[MachineType]:
    return [mt for b in (installed_binaries() if binaries is None else binaries)
            for mt in machine_types(b)]


# ---- the raw guest ---------------------------------------------------------------------------


def raw_guest(mt: MachineType, name: str, disk: str = "/var/lib/libvirt/images/survey.img"
              ) -> str:
    """The guest of the issue: a virtio disk and a virtio NIC, nothing else."""
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <os>
    <type arch='{mt.arch}' machine='{mt.machine}'>hvm</type>
  </os>
  <devices>
    <emulator>{mt.binary}</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='user'>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
"""


# ---- outcomes --------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What happened to one machine type's raw guest."""

    binary: str
    machine: str
    arch: str
    alias_of: str = ""
    libvirt_defines: bool = False
    libvirt_error: str = ""
    libvirt_xml: str = ""
    augment_places: bool = False
    augment_error: str = ""
    augment_warnings: list[str] = field(default_factory=list)
    augment_xml: str = ""
    equal_to_libvirt: bool | None = None  # None: not both placed it
    equal_diff: list[str] = field(default_factory=list)
    defined_unchanged: bool | None = None  # None: augment did not place it
    unchanged_diff: list[str] = field(default_factory=list)  # or libvirt's refusal
    booted: bool | None = None  # None: not tried
    boot_of: str = ""  # "augment" or "libvirt": whose XML was started
    boot_error: str = ""
    qtree_agrees: bool | None = None  # None: not booted, or no device with an address to check
    qtree_checked: int = 0
    qtree_problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    libvirt_placement: Placement | None = None  # render(libvirt_xml), kept when the XML is not
    augment_placement: Placement | None = None

    @property
    def key(self) -> str:
        return f"{Path(self.binary).name}:{self.machine}"

    @property
    def binary_name(self) -> str:
        return Path(self.binary).name

    def misses(self) -> list[str]:
        """Why this machine type is not a full success, one phrase per miss."""
        out = []
        if not self.libvirt_defines:
            out.append(f"libvirt refuses: {self.libvirt_error}")
        if not self.augment_places:
            out.append(f"augment refuses: {self.augment_error}")
        if self.equal_to_libvirt is False:
            out.append("differs from libvirt: " + "; ".join(self.equal_diff[:3]))
        if self.defined_unchanged is False:
            out.append("libvirt changes it: " + "; ".join(self.unchanged_diff[:3]))
        if self.booted is False:
            out.append(f"does not start ({self.boot_of}'s XML): {self.boot_error}")
        if self.qtree_agrees is False:
            out.append("qtree differs: " + "; ".join(self.qtree_problems[:3]))
        return out

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> Outcome:
        """An outcome :meth:`to_json` wrote (without its XML unless it was kept)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})  # type: ignore[arg-type]

    def to_json(self, with_xml: bool = False) -> dict[str, object]:
        """The outcome as JSON: both placements as :func:`render` shows them, and the whole
        XML of both only when asked (it is most of the size)."""
        doc = asdict(self)
        if not with_xml:
            del doc["libvirt_xml"], doc["augment_xml"]
        return doc


# ---- comparing two placements ----------------------------------------------------------------


def render(xml: str) -> Placement:
    """Every device of a domain (hubs aside) as ``element type model [target] @ address``:
    what libvirt decides at define time besides what the user wrote. Hubs are left out: they
    are all alike and libvirt appends the ones it adds (:class:`Topology` compares them)."""
    root = etree.fromstring(xml.encode("utf-8"))
    out: Placement = {}
    for entry in device_entries(root):
        el = entry.element
        if el.tag == "hub":
            continue
        model_el = el.find("model")
        model = el.get("model") or (model_el.get("type") if model_el is not None else None)
        what = [el.tag, el.get("type"), model]
        target = el.find("target")
        if el.tag in ("serial", "console", "parallel", "channel") and target is not None:
            name = target.find("model")
            what.append("[" + " ".join(
                [f"{k}={v}" for k, v in sorted(target.attrib.items())]
                + ([f"model={name.get('name')}"] if name is not None else [])) + "]")
        out[entry.key] = " ".join(x for x in what if x) + " @ " + where_is(el.find("address"))
    return out


def where_is(addr: etree._Element | None) -> str:
    """``pci 00:02.0``, ``spapr-vio reg=0x2000``, ``usb bus=0 port=1``, ``-`` (none); a
    ``<zpci>`` inside a PCI address is part of it."""
    if addr is None:
        return "-"
    kind = addr.get("type")
    if kind == "pci" and addr.get("slot") is not None:
        text = (f"pci {int(addr.get('bus', '0'), 0):02x}:{int(addr.get('slot'), 0):02x}"
                f".{int(addr.get('function', '0'), 0):x}")
        if addr.get("multifunction") == "on":
            text += " multifunction=on"
    else:
        text = " ".join([str(kind)] + [f"{k}={int(v, 0):#x}" if k == "reg" else f"{k}={v}"
                                       for k, v in sorted(addr.attrib.items())
                                       if k not in ("type", "domain")])
    zpci = addr.find("zpci")
    if zpci is not None:
        text += " zpci " + " ".join(f"{k}={int(v, 0):#x}" for k, v in sorted(zpci.attrib.items()))
    return text


def machine_of(xml: str) -> str:
    root = etree.fromstring(xml.encode("utf-8"))
    os_type = root.find("os/type")
    return str(os_type.get("machine")) if os_type is not None else ""


def placement_diff(ours: str, theirs: str, their_name: str = "libvirt") -> list[str]:
    """Every difference in machine, devices, models, zPCI ids, controllers and addresses;
    [] if none. :func:`topology_diff` first; then, for devices whose addresses it found equal,
    what :func:`render` shows besides (a NIC model libvirt picked, a ``<zpci>``)."""
    a_topo, b_topo = Topology.of(ours), Topology.of(theirs)
    lines = topology_diff(a_topo, b_topo, ordered_controllers=False, their_name=their_name)
    a, b = render(ours), render(theirs)
    for key in sorted(set(a) & set(b)):
        if a[key] != b[key] and a_topo.addresses.get(key) == b_topo.addresses.get(key):
            lines.append(f"{key}: ours {a[key]}, {their_name} {b[key]}")
    if machine_of(ours) != machine_of(theirs):
        lines.append(f"machine: ours {machine_of(ours)}, {their_name} {machine_of(theirs)}")
    return lines


# ---- the steps -------------------------------------------------------------------------------


def virsh_reason(err: VerifyError) -> str:
    """libvirt's own message from a failed virsh command: its last ``error:`` part."""
    text = str(err)
    parts = [p.strip() for p in re.split(r"\berror: ", text) if p.strip()]
    return parts[-1] if parts else text


def define_dump(virsh: Virsh, xml: str, name: str, workdir: Path) -> str:
    """``virsh define`` under ``name``, ``dumpxml --inactive``, undefine (always)."""
    root = etree.fromstring(xml.encode("utf-8"))
    name_el = root.find("name")
    assert name_el is not None
    name_el.text = name
    path = workdir / f"{name}.xml"
    path.write_bytes(etree.tostring(root))
    try:
        virsh("define", str(path))
        return virsh("dumpxml", "--inactive", name)
    finally:
        virsh("undefine", "--nvram", name, check=False)
        path.unlink(missing_ok=True)


_AUGMENT_ERROR = re.compile(r"^(?:.*?:\d+(?::\d+)?: )?error: (.*)$")


@dataclass(frozen=True)
class Augment:
    """The ``augment`` command, run as a black box with its own board cache."""

    command: tuple[str, ...]
    cache_home: str
    extra: tuple[str, ...] = ()  # options before the file

    def __call__(self, path: Path) -> tuple[str | None, str, list[str]]:
        """(output or None, the error, warnings) for one file."""
        env = dict(os.environ, XDG_CACHE_HOME=self.cache_home)
        try:
            done = subprocess.run([*self.command, *self.extra, str(path)], capture_output=True,
                                  text=True, env=env, timeout=AUGMENT_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            return None, f"augment gave no answer in {AUGMENT_TIMEOUT:.0f} s", []
        warnings = [ln.split("warning: ", 1)[1] for ln in done.stderr.splitlines()
                    if "warning: " in ln]
        if done.returncode == 0:
            return done.stdout, "", warnings
        errors = [m.group(1) for ln in done.stderr.splitlines()
                  if (m := _AUGMENT_ERROR.match(ln.strip()))]
        why = "; ".join(errors) or " ".join(done.stderr.split())[-300:] or \
            f"exit status {done.returncode}"
        return None, why, warnings


def default_augment(cache_home: str) -> Augment:
    """``python -m augmenter`` of the interpreter running this (the venv's install), with 60 s
    for each QEMU it asks: a loaded host must not turn into boards that failed."""
    return Augment((sys.executable, "-m", "augmenter"), cache_home, ("--timeout", "60"))


def survey_define(virsh: Virsh, augment: Augment, mt: MachineType, n: int,
                  workdir: Path) -> Outcome:
    """Steps 1-3 for one machine type: libvirt's placement, augment's, and libvirt on ours."""
    start = time.monotonic()
    out = Outcome(mt.binary, mt.machine, mt.arch, mt.alias_of)
    base = f"{name_prefix()}{n:03d}-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", mt.machine)[:30]
    raw = raw_guest(mt, base)
    try:
        out.libvirt_xml = define_dump(virsh, raw, base + "-lv", workdir)
        out.libvirt_defines = True
        out.libvirt_placement = render(out.libvirt_xml)
    except VerifyError as err:
        out.libvirt_error = virsh_reason(err)
    path = workdir / f"{base}.xml"
    path.write_text(raw)
    try:
        ours, why, warnings = augment(path)
    finally:
        path.unlink(missing_ok=True)
    out.augment_warnings = warnings
    if ours is None:
        out.augment_error = why
    else:
        out.augment_places, out.augment_xml = True, ours
        out.augment_placement = render(ours)
        if out.libvirt_defines:
            out.equal_diff = placement_diff(ours, out.libvirt_xml)
            out.equal_to_libvirt = not out.equal_diff
        try:
            again = define_dump(virsh, ours, base + "-au", workdir)
        except VerifyError as err:
            out.defined_unchanged = False
            out.unchanged_diff = [f"libvirt refuses augment's output: {virsh_reason(err)}"]
        else:
            out.unchanged_diff = placement_diff(ours, again)
            out.defined_unchanged = not out.unchanged_diff
    out.seconds = time.monotonic() - start
    return out


def mmio_rows(xml_root: etree._Element, live_root: etree._Element,
              qtree_text: str) -> tuple[int, list[str]]:
    """Devices the XML puts on virtio-mmio: each must sit on a ``virtio-mmio-bus`` in QEMU."""
    live = {e.key: e.element for e in device_entries(live_root)}
    by_id = {d.id: d for d in parse_qtree(qtree_text) if d.id}
    checked, problems = 0, []
    for entry in device_entries(xml_root):
        addr = entry.element.find("address")
        if addr is None or addr.get("type") != "virtio-mmio":
            continue
        checked += 1
        live_el = live.get(entry.key)
        alias_el = live_el.find("alias") if live_el is not None else None
        alias = alias_el.get("name") if alias_el is not None else None
        dev = by_id.get(alias or "")
        if dev is None:
            problems.append(f"{entry.label}: no QEMU device with id {alias!r}")
        elif dev.bus_type != "virtio-mmio-bus":
            problems.append(f"{entry.label}: QEMU has it on {dev.bus!r} ({dev.bus_type}), "
                            "not on a virtio-mmio bus")
    return checked, problems


# "Invalid RAM size, should be 1 GiB", "... should be bigger than 1 GiB" (raspi, powernv),
# "RAM size incompatible with this board. Try again with something else, like 192 MB" (40p)
_RAM_HINT = re.compile(r"RAM size.*?(?:should be|like)(?: bigger than)?\s+(\d+)\s*([KMG])i?B",
                       re.IGNORECASE)
_QEMU_SAID = re.compile(r"^.*?(?:closed the monitor|connecting to monitor): (?:\S+Z )?")


def boot_reason(err: VerifyError) -> str:
    """libvirt's message for a failed start, with QEMU's own words first (no time stamp)."""
    return _QEMU_SAID.sub("", virsh_reason(err))


def boot_xml(virsh: Virsh, xml: str, name: str, workdir: Path, mib: int | None = None
             ) -> tuple[int, list[str]]:
    """Start ``xml`` paused under ``name`` (with ``mib`` of RAM instead of boot_copy's 256);
    (devices checked, problems). Raises VerifyError."""
    copy = boot_copy(xml, name, workdir)
    if mib is not None:
        copy = with_memory(copy, mib)
    defined = False
    try:
        virsh.define(copy, workdir)
        defined = True
        virsh("start", "--paused", name, timeout=BOOT_TIMEOUT)
        live = etree.fromstring(virsh("dumpxml", name).encode("utf-8"))
        qtree_text = virsh("qemu-monitor-command", "--hmp", name, "info qtree",
                           timeout=BOOT_TIMEOUT)
    finally:
        if defined:
            virsh.cleanup(name)
    root = etree.fromstring(xml.encode("utf-8"))
    rows, problems = compare_with_qemu(root, live, parse_qtree(qtree_text))
    problems = [f"{r.device}: XML {r.xml}, QEMU {r.qemu or '-'}"
                + (f" ({r.note})" if r.note else "") for r in rows if not r.ok] + problems
    checked, mmio_problems = mmio_rows(root, live, qtree_text)
    return len(rows) + checked, problems + mmio_problems


def with_memory(xml: str, mib: int) -> str:
    root = etree.fromstring(xml.encode("utf-8"))
    for tag in ("memory", "currentMemory"):
        el = root.find(tag)
        if el is not None:
            el.set("unit", "MiB")
            el.text = str(mib)
    return etree.tostring(root, encoding="unicode")


def survey_boot(virsh: Virsh, out: Outcome, n: int) -> None:
    """Step 4: start the guest paused, and compare QEMU's tree with the XML."""
    if out.augment_places and out.defined_unchanged is not None and not any(
            d.startswith("libvirt refuses") for d in out.unchanged_diff):
        xml, out.boot_of = out.augment_xml, "augment"
    elif out.libvirt_defines:
        xml, out.boot_of = out.libvirt_xml, "libvirt"
    else:
        return
    name = f"{name_prefix()}{n:03d}-boot"
    workdir = Path(tempfile.mkdtemp(prefix="survey-boot-"))
    os.chmod(workdir, 0o755)  # QEMU may run as another user
    try:
        try:
            checked, problems = boot_xml(virsh, xml, name, workdir)
        except VerifyError as err:
            # a board with a fixed RAM size says which; start it once more with that size
            m = _RAM_HINT.search(str(err))
            if m is None:
                raise
            mib = int(m.group(1)) * {"K": 1 / 1024, "M": 1, "G": 1024}[m.group(2).upper()]
            checked, problems = boot_xml(virsh, xml, name, workdir, int(mib))
    except VerifyError as err:
        out.booted, out.boot_error = False, boot_reason(err)
        return
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out.booted = True
    out.qtree_checked = checked
    out.qtree_problems = problems
    out.qtree_agrees = (not problems) if checked or problems else None


# ---- the whole survey ------------------------------------------------------------------------


Progress = Callable[[str, Outcome], None]


def run_survey(virsh: Virsh, augment: Augment, machines: Sequence[MachineType], *,
               boot: Callable[[Outcome], bool] = lambda o: True,
               define_jobs: int = DEFINE_JOBS, boot_jobs: int = BOOT_JOBS,
               progress: Progress | None = None) -> list[Outcome]:
    """The survey of ``machines``: steps 1-3 ``define_jobs`` at a time, then step 4 for the
    outcomes ``boot`` selects, ``boot_jobs`` at a time. In the order of ``machines``."""
    workdir = Path(tempfile.mkdtemp(prefix="survey-"))
    try:
        with ThreadPoolExecutor(define_jobs) as pool:
            futures = [pool.submit(survey_define, virsh, augment, mt, n, workdir)
                       for n, mt in enumerate(machines)]
            outcomes = []
            for f in futures:
                outcomes.append(f.result())
                if progress is not None:
                    progress("define", outcomes[-1])
        chosen = [(n, o) for n, o in enumerate(outcomes) if boot(o)]

        def one(item: tuple[int, Outcome]) -> Outcome:
            n, o = item
            start = time.monotonic()
            survey_boot(virsh, o, n)
            o.seconds += time.monotonic() - start
            return o

        with ThreadPoolExecutor(boot_jobs) as pool:
            for o in pool.map(one, chosen):
                if progress is not None:
                    progress("boot", o)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        remove_survey_domains(virsh)
    return outcomes


def remove_survey_domains(virsh: Virsh) -> None:
    """Destroy and undefine whatever this process's survey left behind."""
    for name in virsh("list", "--all", "--name", check=False).split():
        if name.startswith(name_prefix()):
            virsh.cleanup(name)


# ---- the table -------------------------------------------------------------------------------


COLUMNS = ("machine types", "libvirt defines", "augment places", "equal to libvirt",
           "defined unchanged", "booted", "qtree agrees", "libvirt's boots")


def counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    return {
        "machine types": len(outcomes),
        "libvirt defines": sum(o.libvirt_defines for o in outcomes),
        "augment places": sum(o.augment_places for o in outcomes),
        "equal to libvirt": sum(o.equal_to_libvirt is True for o in outcomes),
        "defined unchanged": sum(o.defined_unchanged is True for o in outcomes),
        "booted": sum(o.booted is True and o.boot_of == "augment" for o in outcomes),
        "qtree agrees": sum(o.qtree_agrees is True and o.boot_of == "augment"
                            for o in outcomes),
        "libvirt's boots": sum(o.booted is True and o.boot_of == "libvirt" for o in outcomes),
        # the figures of issue 16
        "libvirt places, augment refuses": sum(o.libvirt_defines and not o.augment_places
                                               for o in outcomes),
        "libvirt boots what augment refuses": sum(
            o.libvirt_defines and not o.augment_places and o.booted is True
            for o in outcomes),
        "libvirt adds pci-root where augment refuses": sum(
            o.libvirt_defines and not o.augment_places and _has_pci_root(o.libvirt_placement)
            for o in outcomes),
        "augment places, libvirt refuses": sum(o.augment_places and not o.libvirt_defines
                                               for o in outcomes),
        "libvirt changes augment output": sum(o.defined_unchanged is False
                                                for o in outcomes),
    }


def _has_pci_root(placement: Placement | None) -> bool:
    return any(v.startswith("controller pci pci-root") for v in (placement or {}).values())


def summary_line(outcomes: Sequence[Outcome]) -> str:
    c = counts(outcomes)
    return (f"{c['machine types']} machine types of "
            f"{len({o.binary for o in outcomes})} QEMU binaries: libvirt defines the raw guest "
            f"on {c['libvirt defines']}; augment places it on {c['augment places']}, as "
            f"libvirt does on {c['equal to libvirt']}, and libvirt defines augment's output "
            f"unchanged on {c['defined unchanged']} (changes or refuses it on "
            f"{c['libvirt changes augment output']}); libvirt places and augment refuses on "
            f"{c['libvirt places, augment refuses']} (libvirt's placement boots on "
            f"{c['libvirt boots what augment refuses']}, has a pci-root on "
            f"{c['libvirt adds pci-root where augment refuses']}); augment places and libvirt "
            f"refuses on {c['augment places, libvirt refuses']}; augment's output boots paused "
            f"on {c['booted']}, and qtree agrees on {c['qtree agrees']}")


def _cell(flag: bool | None) -> str:
    return "-" if flag is None else "yes" if flag else "**no**"


def _short(text: str, width: int = 160) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= width else text[:width - 3] + "..."


def render_markdown(outcomes: Sequence[Outcome], header: Sequence[str] = ()) -> str:
    """The survey as markdown: the summary, a table per binary, a table per machine type."""
    lines = ["# Machine-type survey", "", *header, "", summary_line(outcomes), "",
             "## Per binary", "",
             "| binary | " + " | ".join(COLUMNS) + " |",
             "| --- |" + " ---: |" * len(COLUMNS)]
    by_binary: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_binary.setdefault(o.binary_name, []).append(o)
    for name, group in by_binary.items():
        c = counts(group)
        lines.append(f"| {name} | " + " | ".join(str(c[k]) for k in COLUMNS) + " |")
    total = counts(outcomes)
    lines.append("| **all** | " + " | ".join(f"**{total[k]}**" for k in COLUMNS) + " |")
    lines += ["", "## Misses by reason", "",
              "| reason | machine types | examples |", "| --- | ---: | --- |"]
    reasons: dict[str, list[str]] = {}
    for o in outcomes:
        for miss in o.misses():
            reasons.setdefault(_reason_class(miss), []).append(o.key)
    for reason, keys in sorted(reasons.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        lines.append(f"| {_short(reason)} | {len(keys)} | {_short(', '.join(keys[:4]), 120)} |")
    lines += ["", "## Per machine type", "",
              "| binary | machine | libvirt defines | augment places | equal to libvirt | "
              "defined unchanged | booted | qtree agrees | why not |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for o in outcomes:
        machine = o.machine + (f" (= {o.alias_of})" if o.alias_of else "")
        lines.append(
            f"| {o.binary_name} | {machine} | {_cell(o.libvirt_defines)} | "
            f"{_cell(o.augment_places)} | {_cell(o.equal_to_libvirt)} | "
            f"{_cell(o.defined_unchanged)} | {_cell(o.booted)} | {_cell(o.qtree_agrees)} | "
            f"{_short('; '.join(o.misses()))} |")
    return "\n".join(lines) + "\n"


def _reason_class(miss: str) -> str:
    """A miss with the machine-specific parts (names, numbers, paths) blurred, for grouping."""
    text = re.sub(r"'[^']*'", "'...'", miss)
    text = re.sub(r"\b0x[0-9a-f]+\b|\b\d+(\.\d+)*\b", "N", text)
    text = re.sub(r"/\S+", "PATH", text)
    return text[:200]


def write_json(outcomes: Sequence[Outcome], path: Path, meta: dict[str, object],
               with_xml: bool = False) -> None:
    doc = {"meta": meta, "summary": counts(outcomes),
           "outcomes": [o.to_json(with_xml) for o in outcomes]}
    path.write_text(json.dumps(doc, indent=1) + "\n")
