"""The worst input of each shape, at the limits (issue 18, Build 1): time and memory.

    .venv/bin/python bench/bench_hostile.py                  # every shape; prints markdown
    .venv/bin/python bench/bench_hostile.py --write          # ... and rewrites bench/HOSTILE.md's
                                                             #     generated block (notes kept)
    .venv/bin/python bench/bench_hostile.py --only serial    # the shapes whose name has 'serial'

Every document is as large as the limits let it be (``MAX_BYTES``, 16 MiB; ``MAX_MARKUP``,
500,000 ``<``; ``MAX_DEPTH``; libxml2's 10 MB for one text node or start tag): as many
elements of one device kind as fit, the shapes the
issue found quadratic (10,000 virtio-serial controllers, 150,000 root ports or USB controllers,
100,000 channels or SATA disks), 45,000 findings in 15 MB, a trailing comment full of
``</domain>``, an element with half a million attributes, and so on. Each runs as one ``augment
--boards embedded`` process per mode (augment, ``--check``, ``--check --format json``), killed
after ``--timeout`` seconds, with its address space capped (``--memory``). The goal: every run
under 10 s and 1 GiB, whatever its exit status (0, or 1 with one line per problem).

Wall time is the child's own (fork to reap); peak RSS is its ``VmHWM`` sampled from ``/proc``
every 5 ms. Not part of the pytest suite.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from augmenter.model.domain import disk_name

HERE = Path(__file__).resolve().parent
REPORT = HERE / "HOSTILE.md"
AUGMENT = [sys.executable, "-m", "augmenter", "--boards", "embedded"]
MAX_BYTES = 16 * 1024 * 1024
MAX_MARKUP = 500_000
WALL_GOAL_S = 10.0
RSS_GOAL_MB = 1024

HEAD = ("<domain type='kvm'>\n  <name>hostile</name>\n  <memory unit='GiB'>4</memory>\n"
        "  <os><type arch='{arch}' machine='{machine}'>hvm</type></os>\n  <devices>\n")
TAIL = "  </devices>\n</domain>\n"


def _fill(per: Callable[[int], str], lt_each: int, machine: str = "q35", arch: str = "x86_64",
          count: int | None = None, markup: int = MAX_MARKUP) -> bytes:
    """A guest with as many ``per(i)`` devices as ``markup`` ``<`` allow (the limit), or
    ``count``."""
    head = HEAD.format(arch=arch, machine=machine)
    room = markup - (head + TAIL).count("<") - 1
    widest = max(len(per(i)) for i in (0, 99_999, 499_999)) + 5  # indent and newline
    n = count if count is not None else min(room // lt_each,
                                            (MAX_BYTES - len(head + TAIL)) // widest)
    body = "".join(f"    {per(i)}\n" for i in range(n))
    return (head + body + TAIL).encode()


def _attrs(n: int) -> bytes:
    attrs = " ".join(f"a{i}='{i}'" for i in range(n))
    return (HEAD.format(arch="x86_64", machine="q35") + f"    <rng model='virtio' {attrs}>"
            "<backend model='random'>/dev/urandom</backend></rng>\n" + TAIL).encode()


def _findings(n: int) -> bytes:
    """``n`` interfaces, each with a PCI address out of range: one finding each, padded to
    15 MB with a long MAC-less source so that the document is large too."""
    pad = "x" * 170

    def per(i: int) -> str:
        return (f"<interface type='user'><source dev='{pad}'/><model type='e1000'/>"
                f"<address type='pci' domain='0x0000' bus='0x00' slot='0x{32 + i % 200:x}' "
                "function='0x0'/></interface>")

    return _fill(per, 4, count=n)


def _epilogue(occurrences: int) -> bytes:
    guest = _fill(lambda i: "<memballoon model='virtio'/>", 1, count=1)
    return guest + b"<!-- " + b"</domain><? " * occurrences + b" -->\n"


def _big_text() -> bytes:
    guest = _fill(lambda i: "<memballoon model='virtio'/>", 1, count=1)
    return guest.replace(b"<name>hostile</name>",
                         b"<name>hostile</name><description>" + b"y" * 9_999_000
                         + b"</description>", 1)


def _sixteen_mib() -> bytes:
    guest = _fill(lambda i: f"<disk type='file' device='disk'><source file='/i/{i}.qcow2'/>"
                  f"<target dev='{disk_name('vd', i)}' bus='virtio'/></disk>", 4, count=20)
    room = MAX_BYTES - len(guest) - 100
    chunk = b"<z>" + b"z" * ((1 << 20) - 7) + b"</z>"  # text nodes stay under libxml2's 10M
    meta = (b"<metadata><m:x xmlns:m='urn:x'>" + chunk * (room // len(chunk))
            + b"</m:x></metadata>")
    return guest.replace(b"  <memory", meta + b"\n  <memory", 1)


def _nested_metadata() -> bytes:
    depth = 250
    one = "<a>" * depth + "</a>" * depth
    count = (MAX_MARKUP - 100) // (2 * depth)
    meta = "<metadata><m:x xmlns:m='urn:x'>" + one * count + "</m:x></metadata>"
    guest = _fill(lambda i: "<memballoon model='virtio'/>", 1, count=1).decode()
    return guest.replace("  <memory", meta + "\n  <memory", 1).encode()


def _comments() -> bytes:
    guest = _fill(lambda i: "<!-- a comment --><?pi x?>", 2).decode()
    return guest.encode()


def _lines(newline: str) -> bytes:
    text = _fill(lambda i: "<rng model='virtio'><backend model='random'>/dev/urandom"
                 "</backend></rng>", 3, count=1).decode()
    body = text.replace("\n", newline)
    filler = ("<!--" + newline * (MAX_BYTES // 2 // len(newline)) + "-->").encode()
    return body.encode().replace(b"<devices>", b"<devices>" + filler, 1)


def _single_quoted_big() -> bytes:
    """What `virsh dumpxml` of a huge guest looks like: single quotes everywhere."""
    return _fill(lambda i: f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                 f"<source file='/var/lib/libvirt/images/{i}.qcow2'/>"
                 f"<target dev='{disk_name('sd', i)}' bus='scsi'/></disk>", 5, count=40_000)


# one device kind: (its element, numbered i; its '<' each; the machine)
KINDS: dict[str, tuple[Callable[[int], str], int, str]] = {
    "disk virtio": (lambda i: f"<disk type='file' device='disk'><target dev="
        f"'{disk_name('vd', i)}' bus='virtio'/></disk>",
        3, "q35"),
    "disk sata": (lambda i: f"<disk type='file' device='disk'><target dev="
        f"'{disk_name('sd', i)}' bus='sata'/></disk>",
        3, "q35"),
    "disk scsi": (lambda i: f"<disk type='file' device='disk'><target dev="
        f"'{disk_name('sd', i)}' bus='scsi'/></disk>",
        3, "q35"),
    "disk ide (pc)": (lambda i: f"<disk type='file' device='cdrom'><target dev="
        f"'{disk_name('hd', i)}' bus='ide'/></disk>",
        3, "pc"),
    "controller pcie-root-port": (lambda i: "<controller type='pci' model='pcie-root-port'/>",
        1, "q35"),
    "controller pci-bridge (pc)": (lambda i: "<controller type='pci' model='pci-bridge'/>",
        1, "pc"),
    "controller usb": (lambda i: "<controller type='usb' model='qemu-xhci'/>",
        1, "q35"),
    "controller virtio-serial": (lambda i: "<controller type='virtio-serial'/>",
        1, "q35"),
    "controller scsi": (lambda i: "<controller type='scsi' model='virtio-scsi'/>",
        1, "q35"),
    "controller sata": (lambda i: "<controller type='sata'/>",
        1, "q35"),
    "controller ide (pc)": (lambda i: "<controller type='ide'/>",
        1, "pc"),
    "controller ccid": (lambda i: "<controller type='ccid'/>",
        1, "q35"),
    "interface": (lambda i: "<interface type='user'><model type='virtio'/>"
        "</interface>",
        3, "q35"),
    "serial": (lambda i: "<serial type='pty'/>",
        1, "q35"),
    "console": (lambda i: "<console type='pty'/>",
        1, "q35"),
    "parallel": (lambda i: "<parallel type='pty'/>",
        1, "q35"),
    "channel virtio": (lambda i: "<channel type='pty'><target type='virtio'/>"
        "</channel>",
        3, "q35"),
    "input usb": (lambda i: "<input type='tablet' bus='usb'/>",
        1, "q35"),
    "input virtio": (lambda i: "<input type='keyboard' bus='virtio'/>",
        1, "q35"),
    "sound": (lambda i: "<sound model='ich9'/>",
        1, "q35"),
    "video": (lambda i: "<video><model type='virtio'/></video>",
        3, "q35"),
    "hostdev pci": (lambda i: "<hostdev mode='subsystem' type='pci'><source>"
        f"<address domain='0' bus='{i % 256}' slot='{i % 32}' "
        "function='0'/></source></hostdev>",
        5, "q35"),
    "hostdev usb": (lambda i: "<hostdev mode='subsystem' type='usb'><source>"
        "<vendor id='0x1'/><product id='0x2'/></source></hostdev>",
        6, "q35"),
    "redirdev": (lambda i: "<redirdev bus='usb' type='spicevmc'/>",
        1, "q35"),
    "hub": (lambda i: "<hub type='usb'/>",
        1, "q35"),
    "watchdog": (lambda i: "<watchdog model='i6300esb'/>",
        1, "q35"),
    "memballoon": (lambda i: "<memballoon model='virtio'/>",
        1, "q35"),
    "rng": (lambda i: "<rng model='virtio'><backend model='random'>/dev/urandom"
        "</backend></rng>",
        3, "q35"),
    "panic": (lambda i: "<panic model='isa'/>",
        1, "q35"),
    "shmem": (lambda i: f"<shmem name='s{i}'/>",
        1, "q35"),
    "memory dimm": (lambda i: "<memory model='dimm'><target><size unit='KiB'>"
        "524288</size><node>0</node></target></memory>",
        7, "q35"),
    "iommu": (lambda i: "<iommu model='intel'/>",
        1, "q35"),
    "vsock": (lambda i: "<vsock model='virtio'/>",
        1, "q35"),
    "tpm": (lambda i: "<tpm model='tpm-crb'/>",
        1, "q35"),
    "smartcard": (lambda i: "<smartcard mode='passthrough' type='spicevmc'/>",
        1, "q35"),
    "filesystem": (lambda i: f"<filesystem type='mount'><source dir='/s{i}'/>"
        f"<target dir='t{i}'/></filesystem>",
        4, "q35"),
    "graphics": (lambda i: "<graphics type='vnc'/>",
        1, "q35"),
    "crypto": (lambda i: "<crypto model='virtio' type='qemu'/>",
        1, "q35"),
}


def kind_guest(name: str, markup: int = MAX_MARKUP) -> bytes:
    """As many devices of one kind (:data:`KINDS`) as ``markup`` ``<`` allow."""
    per, lt_each, machine = KINDS[name]
    return _fill(per, lt_each, machine, markup=markup)


# name -> document; the device kinds come first, then the shapes the issue named, then the rest
SHAPES: dict[str, Callable[[], bytes]] = {
    **{name: functools.partial(kind_guest, name) for name in KINDS},
    # the quadratic shapes (item 8), at the sizes it measured
    "issue: 10,000 virtio-serial controllers": lambda: _fill(
        lambda i: "<controller type='virtio-serial'/>", 1, count=10_000),
    "issue: 150,000 root ports": lambda: _fill(
        lambda i: "<controller type='pci' model='pcie-root-port'/>", 1, count=150_000),
    "issue: 150,000 USB controllers": lambda: _fill(
        lambda i: "<controller type='usb' model='qemu-xhci'/>", 1, count=150_000),
    "issue: 100,000 channels": lambda: _fill(
        lambda i: "<channel type='pty'><target type='virtio'/></channel>", 3, count=100_000),
    "issue: 100,000 SATA disks": lambda: _fill(
        lambda i: f"<disk type='file' device='disk'><target dev='{disk_name('sd', i)}' "
        "bus='sata'/></disk>", 3, count=100_000),
    # other shapes
    "45,000 findings in 15 MB": lambda: _findings(45_000),
    "trailing comment of 240k </domain><?": lambda: _epilogue(240_000),
    "550,000 attributes on one element": lambda: _attrs(550_000),
    "100,000 attributes on one element": lambda: _attrs(100_000),
    "16 MiB of metadata": _sixteen_mib,
    "10M-character text node": _big_text,
    "1,000 x 250-deep metadata": _nested_metadata,
    "500k comments and PIs": _comments,
    "8 MiB of CRLF": lambda: _lines("\r\n"),
    "8 MiB of CR": lambda: _lines("\r"),
    "40,000 single-quoted SCSI disks": _single_quoted_big,
}
MODES: dict[str, list[str]] = {"augment": [], "check": ["--check"],
                               "check json": ["--check", "--format", "json"]}


@dataclass
class Run:
    shape: str
    mode: str
    size: int
    markup: int
    status: str  # exit status, or "killed"
    wall: float
    rss_mb: float
    lines: int  # lines on stderr

    @property
    def ok(self) -> bool:
        return (self.status in ("0", "1") and self.wall < WALL_GOAL_S
                and self.rss_mb < RSS_GOAL_MB)


def _hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def measure(args: list[str], cwd: Path, timeout: float, memory_mb: int) -> tuple[str, float,
                                                                                 float, int]:
    """(exit status or 'killed', wall s, peak RSS MB, stderr lines) of one process."""
    def cap() -> None:
        limit = memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err,
                                stdin=subprocess.DEVNULL, preexec_fn=cap,
                                env={**os.environ, "NO_COLOR": "1"})
        peak, status = 0, ""
        while True:
            peak = max(peak, _hwm_kb(proc.pid))
            pid, code, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status = str(os.waitstatus_to_exitcode(code))
                break
            if time.monotonic() - start > timeout:
                os.kill(proc.pid, signal.SIGKILL)
                os.wait4(proc.pid, 0)
                status = "killed"
                break
            time.sleep(0.005)
        wall = time.monotonic() - start
        proc.returncode = 0
        err.seek(0)
        lines = len(err.read().splitlines())
    return status, wall, peak / 1024, lines


def run_shapes(names: list[str], timeout: float, memory_mb: int) -> Iterator[Run]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for name in names:
            data = SHAPES[name]()
            path = folder / "guest.xml"
            path.write_bytes(data)
            for mode, extra in MODES.items():
                status, wall, rss, lines = measure([*AUGMENT, *extra, str(path)], folder,
                                                   timeout, memory_mb)
                run = Run(name, mode, len(data), data.count(b"<"), status, wall, rss, lines)
                print(f"  {name} [{mode}]: {status} {wall:.2f} s {rss:.0f} MB "
                      f"({lines} lines)", file=sys.stderr, flush=True)
                yield run


def _commit() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=HERE,
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def markdown(runs: list[Run], timeout: float, memory_mb: int) -> str:
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    out = [
        "# Hostile inputs at the limits (issue 18, Build 1)",
        "",
        "Generated by `bench/bench_hostile.py --write`. One `augment --boards embedded` "
        f"process per run, killed after {timeout:g} s, its address space capped at "
        f"{memory_mb} MiB. Goal: every run under {WALL_GOAL_S:g} s and {RSS_GOAL_MB} MiB "
        "peak RSS, exit 0 or 1. Machine:",
        "",
        f"- {os.cpu_count()} CPUs; {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}",
        f"- run {datetime.datetime.now():%Y-%m-%d %H:%M}, load average at the end {load}",
        f"- augmenter measured: commit {_commit()}",
        "",
        "| shape | size | `<` | mode | exit | stderr lines | wall (s) | peak RSS (MB) | goal |",
        "| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for r in runs:
        wall = f"> {timeout:g}" if r.status == "killed" else f"{r.wall:.2f}"
        out.append(f"| {r.shape} | {r.size / 1e6:.1f} MB | {r.markup:,} | {r.mode} | "
                   f"{r.status} | {r.lines:,} | {wall} | {r.rss_mb:.0f} | "
                   f"{'met' if r.ok else '**missed**'} |")
    missed = [r for r in runs if not r.ok]
    out += ["", f"{len(runs) - len(missed)} of {len(runs)} runs met the goal."]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="shapes whose name contains this")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per run")
    parser.add_argument("--memory", type=int, default=3072, help="address space cap, MiB")
    parser.add_argument("--write", action="store_true", help=f"rewrite {REPORT.name}")
    args = parser.parse_args()
    names = [n for n in SHAPES if args.only.lower() in n.lower()]
    runs = list(run_shapes(names, args.timeout, args.memory))
    text = markdown(runs, args.timeout, args.memory)
    sys.stdout.write(text)
    if args.write:
        REPORT.write_text(with_notes(text))


BEGIN = "<!-- bench_hostile: begin (generated by bench/bench_hostile.py --write) -->"
END = "<!-- bench_hostile: end -->"


def with_notes(table: str) -> str:
    """The report: the generated block between the markers, and the hand-written notes
    around it kept as they are."""
    title, _, rest = table.partition("\n\n")
    block = f"{BEGIN}\n{rest}{END}\n"
    if REPORT.exists():
        old = REPORT.read_text()
        if BEGIN in old and END in old:
            head, _, tail = old.partition(BEGIN)
            return head + block + tail.partition(END)[2]
    return f"{title}\n\n{block}"


if __name__ == "__main__":
    main()
