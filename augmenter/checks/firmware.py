"""Findings about a placed guest: what augment did beyond libvirt, and firmware I/O windows.

The rules in :mod:`augmenter.checks.rules` read the definition as written; these read the
result of placement (``Guest.topology``), so the pipeline adds them after placing.

**I/O windows** (docs/placement.md §21). A PCI Express root port forwards I/O port space to
its bus only through the window the firmware opens for it when it enumerates, and x86 I/O
space is 64 KiB, opened in 4 KiB steps. Measured with QEMU 7.2 on q35, empty root ports and no
other device (``bench/bench_firmware_io.py``, table in ``bench/README.md``):

* SeaBIOS (QEMU's default) opens no window on an empty root port; with the port's
  ``io-reserve=4096`` hint it opens one on each of up to 14 ports, and on none once there
  are 15 or more;
* OVMF opens one on the first 10 empty ports and none on the others; with ``io-reserve=0``
  on none.

A device hot-plugged into a port without a window gets no I/O space: PCI Express devices work
without it (which is why SeaBIOS opens none unless asked), a device that needs I/O ports
(legacy virtio, many emulated NICs and controllers) does not; and windows the firmware spends
on empty ports are missing for the devices present at boot (QEMU issue 641). So a firmware
can serve at most so many empty root ports with a window: SeaBIOS 14 (when they ask, with
``io-reserve``), OVMF 10. ``augment --check`` warns when a guest has more empty root ports
than that, with the fix.
"""

from __future__ import annotations

from ..model.domain import Domain
from ..placement import hotplug
from ..placement.guest import Guest
from .findings import Finding

# The most empty root ports a firmware opens an I/O window on, as measured (see the module
# doc): SeaBIOS when the ports ask (io-reserve; by default it opens none), OVMF by default.
IO_WINDOWS = {"seabios": 14, "ovmf": 10}
X86 = ("x86_64", "i686")


def firmware_of(dom: Domain) -> str:
    """The guest's firmware as it matters here: "ovmf" for UEFI, else "seabios"."""
    os_el = dom.root.find("os")
    if os_el is None:
        return "seabios"
    if os_el.get("firmware") == "efi":
        return "ovmf"
    loader = os_el.find("loader")
    if loader is not None:
        path = (loader.text or "").lower()
        if loader.get("type") == "pflash" or any(k in path for k in ("ovmf", "edk2", "efi")):
            return "ovmf"
    return "seabios"


def io_windows(guest: Guest) -> list[Finding]:
    """The I/O-window warning for a placed q35 guest (see the module doc)."""
    if guest.topology is None or not guest.pcie_root or guest.dom.arch not in X86:
        return []
    empty = len(hotplug.free_ports(guest.topology, pcie_root=True))
    firmware = firmware_of(guest.dom)
    windows = IO_WINDOWS[firmware]
    if empty <= windows:
        return []
    ports = f"{empty} empty root port{'s' if empty != 1 else ''}"
    if firmware == "seabios":
        message = (f"{ports}, but SeaBIOS opens an I/O window on at most {windows} (and only "
                   "on ports that ask for one with io-reserve): a device hot-plugged into the "
                   "others gets no I/O space (PCI Express devices need none, legacy ones "
                   "such as transitional virtio do)")
        hint = (f"leave at most {windows} empty ports (--reserve-hotplug {windows}), and give "
                "them an I/O reserve if a hot-plugged device needs I/O ports (<qemu:"
                "commandline> -global pcie-root-port.io-reserve=4096; with 15 or more ports "
                "asking, SeaBIOS opens none)")
    else:
        message = (f"{ports}, but OVMF opens an I/O window on {windows} of them: a device "
                   f"hot-plugged into the other {empty - windows} gets no I/O space, and "
                   "the windows of empty ports are taken from devices that need them "
                   "(QEMU issue 641)")
        hint = (f"leave at most {windows} empty ports (--reserve-hotplug {windows}), or "
                "set io-reserve=0 on them (<qemu:commandline> -global "
                "pcie-root-port.io-reserve=0) so that no empty port takes I/O space")
    return [Finding("io-windows", "warning", message, hint=hint)]


def placed_findings(guest: Guest, advice: bool = False) -> list[Finding]:
    """Warnings about the placed guest: what augment could not do as asked (always), and,
    with ``advice`` (``augment --check``), the firmware's I/O windows."""
    out = [Finding(code, "warning", message) for code, message in guest.warnings]
    if advice:
        out += io_windows(guest)
    return out
