"""Placement and checks against repeated elements (issue 18, item 8): time and memory per shape.

    .venv/bin/python bench/bench_scaling.py                 # every shape, prints markdown
    .venv/bin/python bench/bench_scaling.py --write         # ... and rewrites bench/SCALING.md
    .venv/bin/python bench/bench_scaling.py --only serial   # the shapes whose name has 'serial'
    .venv/bin/python bench/bench_scaling.py --timeout 120   # give up on a run after 120 s
    .venv/bin/python bench/bench_scaling.py --tree /tmp/old # the package in /tmp/old instead

Each shape is one device element repeated: the sizes issue 18 found quadratic (10,000
virtio-serial controllers, 150,000 root ports or USB controllers, 100,000 virtio channels or SATA
disks) and the other kinds placement walks per device, at a quarter, a half and the whole of the
size, so that a stage that grows faster than linearly shows in the ratio of the last two. Every
document stays within the parse limits (500,000 ``<``, 16 MiB). Each size runs as one
``augment --boards embedded`` process (the document's augmentation, or the error that refuses
it), then as ``augment --check``; a run is killed after ``--timeout`` seconds.

The goal (issue 18): every run well under 10 s, whatever its exit status. Wall time is the
child's own (fork to reap); peak RSS is its ``ru_maxrss``. Not part of the pytest suite.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from augmenter.model.domain import disk_name

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REPORT = HERE / "SCALING.md"
AUGMENT = [sys.executable, "-m", "augmenter", "--boards", "embedded"]
GOAL_S = 10.0

HEAD = ("<domain type='kvm'>\n  <name>scaling</name>\n  <memory unit='GiB'>4</memory>\n"
        "  <os><type arch='{arch}' machine='{machine}'>hvm</type></os>\n  <devices>\n")
TAIL = "  </devices>\n</domain>\n"


@dataclass(frozen=True)
class Shape:
    """One element repeated ``size`` times (``per(i)`` is the i-th) in a guest of ``machine``."""

    name: str
    size: int
    per: Callable[[int], str]
    machine: str = "q35"
    arch: str = "x86_64"

    def document(self, count: int) -> bytes:
        body = "".join(f"    {self.per(i)}\n" for i in range(count))
        return (HEAD.format(arch=self.arch, machine=self.machine) + body + TAIL).encode()


SHAPES = (
    # the shapes, at its sizes
    Shape("virtio-serial controllers", 10_000, lambda i: "<controller type='virtio-serial'/>"),
    Shape("pcie-root-port controllers", 150_000,
          lambda i: "<controller type='pci' model='pcie-root-port'/>"),
    Shape("USB controllers", 150_000, lambda i: "<controller type='usb' model='qemu-xhci'/>"),
    Shape("virtio channels", 100_000,
          lambda i: "<channel type='pty'><target type='virtio'/></channel>"),
    Shape("SATA disks", 100_000, lambda i: "<disk type='file' device='disk'>"
          f"<target dev='{disk_name('sd', i)}' bus='sata'/></disk>"),
    # the other kinds placement and checks walk per device
    Shape("virtio disks", 100_000, lambda i: "<disk type='file' device='disk'>"
          f"<target dev='{disk_name('vd', i)}' bus='virtio'/></disk>"),
    Shape("SCSI disks", 100_000, lambda i: "<disk type='file' device='disk'>"
          f"<target dev='{disk_name('sd', i)}' bus='scsi'/></disk>"),
    Shape("e1000e interfaces", 100_000,
          lambda i: "<interface type='user'><model type='e1000e'/></interface>"),
    Shape("pci-bridge controllers", 150_000,
          lambda i: "<controller type='pci' model='pci-bridge'/>", machine="pc"),
    Shape("USB tablets", 150_000, lambda i: "<input type='tablet' bus='usb'/>"),
    Shape("smartcards", 150_000,
          lambda i: "<smartcard mode='passthrough' type='spicevmc'/>"),
    Shape("SATA controllers", 150_000, lambda i: "<controller type='sata'/>"),
    Shape("serial ports", 150_000, lambda i: "<serial type='pty'/>"),
    Shape("pci addresses written", 100_000, lambda i: "<interface type='user'><model "
          f"type='e1000'/><address type='pci' bus='0x{1 + i // 32 % 255:02x}' "
          f"slot='0x{i % 32:02x}'/></interface>"),
    Shape("drive addresses written", 100_000, lambda i: "<disk type='file' device='disk'>"
          f"<target dev='{disk_name('sd', i)}' bus='scsi'/><address type='drive' "
          f"controller='{i // 7}' bus='0' target='0' unit='{i % 7}'/></disk>"),
)


@dataclass(frozen=True)
class Run:
    status: int | None  # None: killed at the timeout
    wall: float
    rss_mb: float
    lines: int  # lines on stderr


def run(args: list[str], timeout: float, tree: Path = ROOT) -> Run:
    """One ``augment`` process (the package of ``tree``): its status, wall time, peak RSS and
    stderr line count."""
    with tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, cwd=tree)
        status: int | None = None
        while True:
            pid, code, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status = os.waitstatus_to_exitcode(code)
                break
            if time.monotonic() - start > timeout:
                proc.kill()
                _, _, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        wall = time.monotonic() - start
        proc.returncode = status if status is not None else -9  # reaped here, not by Popen
        err.seek(0)
        lines = err.read().count(b"\n")
    return Run(status, wall, usage.ru_maxrss / 1024, lines)


def measure(shape: Shape, timeout: float, folder: Path,
            tree: Path = ROOT) -> list[tuple[int, str, Run]]:
    out: list[tuple[int, str, Run]] = []
    for count in (shape.size // 4, shape.size // 2, shape.size):
        path = folder / f"{shape.name.replace(' ', '-')}-{count}.xml"
        path.write_bytes(shape.document(count))
        for mode, extra in (("augment", []), ("--check", ["--check"])):
            got = run([*AUGMENT, *extra, str(path)], timeout, tree)
            out.append((count, mode, got))
            print(f"  {shape.name} x{count} {mode}: status {got.status} {got.wall:.2f} s "
                  f"{got.rss_mb:.0f} MB", file=sys.stderr, flush=True)
        path.unlink()
    return out


def table(results: list[tuple[Shape, list[tuple[int, str, Run]]]], timeout: float) -> str:
    rows = ["| shape | elements | mode | status | wall (s) | peak RSS (MB) | stderr lines |",
            "| --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    worst = 0.0
    for shape, runs in results:
        for count, mode, r in runs:
            status = "killed" if r.status is None else str(r.status)
            wall = f"> {timeout:.0f}" if r.status is None else f"{r.wall:.2f}"
            worst = max(worst, r.wall)
            rows.append(f"| {shape.name} ({shape.machine}) | {count:,} | {mode} | {status} | "
                        f"{wall} | {r.rss_mb:.0f} | {r.lines} |")
    met = "met" if worst < GOAL_S else "NOT met"
    summary = f"Slowest run: {worst:.2f} s (goal: under {GOAL_S:.0f} s, {met})."
    return "\n".join(rows) + f"\n\n{summary}\n"


def header(tree: Path = ROOT) -> str:
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()
    if tree != ROOT:
        commit = f"the package in {tree}"
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"- {os.cpu_count()} CPUs; {platform.platform()}; Python {platform.python_version()}\n"
            f"- run {datetime.datetime.now():%Y-%m-%d %H:%M}, load average at the end {load}\n"
            f"- augmenter measured: commit {commit}\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="shapes whose name contains this")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per run (120)")
    ap.add_argument("--write", action="store_true", help=f"rewrite {REPORT.name}")
    ap.add_argument("--tree", type=Path, default=ROOT,
                    help="a folder holding the augmenter package to measure (an old revision's "
                         "git archive); default: this work tree")
    args = ap.parse_args()
    shapes = [s for s in SHAPES if args.only in s.name]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        for shape in shapes:
            results.append((shape, measure(shape, args.timeout, Path(tmp), args.tree)))
    text = table(results, args.timeout)
    body = f"{header(args.tree)}\n{text}"
    print(body)
    if args.write:
        REPORT.write_text("# Scaling: repeated elements (bench/bench_scaling.py)\n\n"
                          "Generated by `bench/bench_scaling.py --write`; each size is one "
                          "`augment --boards embedded` process, then one `--check`.\n\n" + body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
