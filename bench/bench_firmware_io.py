#!/usr/bin/env python3
"""How many empty PCIe root ports get an I/O window from the firmware, measured in QEMU.

    .venv/bin/python bench/bench_firmware_io.py [--ports 1,4,8,16,35] [--seconds 40]

A q35 guest with N empty ``pcie-root-port`` devices (packed eight to a slot, as libvirt packs
them) is started, not paused, with SeaBIOS (QEMU's default) and with OVMF (Debian package
``ovmf``), with no disk: the firmware enumerates PCI and programs every bridge's windows before
it looks for something to boot. Then QEMU's ``info pci`` (over the human monitor) shows each
root port's "IO range": a window the firmware opened, or an empty one (base above limit). The
same is measured with ``-global pcie-root-port.io-reserve=0`` (and, for SeaBIOS, ``=4096``):
the hint a root port gives the firmware about how much I/O space to keep for hot-plug.

The figures feed ``augmenter.checks.firmware`` (the I/O-window warning of ``augment --check``);
``--markdown`` prints the table for ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")


@dataclass
class Measure:
    firmware: str
    ports: int
    io_reserve: int | None
    windows: int  # root ports with an I/O window
    seconds: float


def _args(ports: int, io_reserve: int | None) -> list[str]:
    out: list[str] = []
    for i in range(ports):
        slot, function = 2 + i // 8, i % 8
        multi = ",multifunction=on" if function == 0 else ""
        out += ["-device", f"pcie-root-port,id=rp{i},bus=pcie.0,chassis={i + 1},"
                           f"port={slot * 8 + function:#x},addr={slot:#x}.{function}{multi}"]
    if io_reserve is not None:
        out += ["-global", f"pcie-root-port.io-reserve={io_reserve}"]
    return out


def _monitor(path: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(command.encode() + b"\n")
        data = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
            if data.rstrip().endswith(b"(qemu)") and data.count(b"(qemu)") >= 2:
                break
        return data.decode("utf-8", "replace")


IO_RANGE = re.compile(r"IO range \[0x([0-9a-f]+), 0x([0-9a-f]+)\]")


def count_windows(info_pci: str) -> tuple[int, int]:
    """(root ports seen, root ports whose I/O window is open) in ``info pci`` text."""
    seen = opened = 0
    for block in info_pci.split("Bus ")[1:]:
        if "PCI bridge" not in block or "id \"rp" not in block:
            continue
        seen += 1
        m = IO_RANGE.search(block)
        if m and int(m.group(1), 16) <= int(m.group(2), 16):
            opened += 1
    return seen, opened


def measure(binary: str, firmware: str, ports: int, io_reserve: int | None,
            seconds: float) -> Measure:
    work = Path(tempfile.mkdtemp(prefix="fw-io-"))
    mon = work / "mon.sock"
    cmd = [binary, "-machine", "q35", "-accel", "tcg", "-m", "256", "-display", "none",
           "-nodefaults", "-no-user-config", "-serial", "none",
           "-monitor", f"unix:{mon},server=on,wait=off", *_args(ports, io_reserve)]
    if firmware == "ovmf":
        vars_copy = work / "vars.fd"
        shutil.copy(OVMF_VARS, vars_copy)
        cmd += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    start = time.monotonic()
    try:
        last = (-1, -1)
        stable = 0
        while time.monotonic() - start < seconds:
            time.sleep(2)
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "exited")
            if not mon.exists():
                continue
            text = _monitor(mon, "info pci")
            now = count_windows(text)
            # the firmware has enumerated once every bridge has a secondary bus number; it
            # is done once the windows then stay the same for two more looks
            numbered = now[0] == ports and "secondary bus 0." not in text
            stable = stable + 1 if numbered and now == last else 0
            last = now
            if stable >= 2:
                break
        else:
            raise RuntimeError(f"{firmware}: PCI not enumerated after {seconds} s")
        return Measure(firmware, ports, io_reserve, max(last[1], 0),
                       round(time.monotonic() - start, 1))
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=shutil.which("qemu-system-x86_64") or "")
    ap.add_argument("--ports", default="1,4,8,9,10,11,12,13,14,15,16,24,35")
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    if not args.binary:
        sys.exit("qemu-system-x86_64 not found (apt-get install qemu-system-x86)")
    firmwares = ["seabios"] + (["ovmf"] if OVMF_CODE.exists() else [])
    if "ovmf" not in firmwares:
        print("OVMF not installed (apt-get install ovmf): SeaBIOS only", file=sys.stderr)
    rows: list[Measure] = []
    for firmware in firmwares:
        for ports in [int(p) for p in args.ports.split(",")]:
            for reserve in (None, 0, 4096):
                m = measure(args.binary, firmware, ports, reserve, args.seconds)
                rows.append(m)
                print(f"{m.firmware:8} ports={m.ports:3} io-reserve={m.io_reserve!s:5} "
                      f"windows={m.windows:3} ({m.seconds} s)", file=sys.stderr, flush=True)
    if args.markdown:
        print("\n".join(markdown(rows)))
    return 0


def markdown(rows: list[Measure]) -> list[str]:
    """Ports with an I/O window: a row per firmware and io-reserve, a column per count."""
    counts = sorted({m.ports for m in rows})
    found = {(m.firmware, m.io_reserve, m.ports): m.windows for m in rows}
    out = ["| empty root ports | " + " | ".join(map(str, counts)) + " |",
           "| --- |" + " ---: |" * len(counts)]
    for firmware in dict.fromkeys(m.firmware for m in rows):
        for reserve in (None, 0, 4096):
            label = "default" if reserve is None else f"io-reserve={reserve}"
            cells = [str(found.get((firmware, reserve, n), "-")) for n in counts]
            out.append(f"| {firmware}, {label} | " + " | ".join(cells) + " |")
    return out


if __name__ == "__main__":
    os.environ.setdefault("LC_ALL", "C")
    sys.exit(main())
