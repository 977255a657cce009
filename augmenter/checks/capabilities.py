"""QEMU capability rules: a device the board's QEMU does not have is refused as libvirt
refuses it.

The table of what each setting needs is :data:`augmenter.policy.capabilities.NEEDS`; the
catalogue of the guest's QEMU says which device types the binary has. The rules about TPMs,
videos, inputs, panics and IOMMUs ask :func:`lacks` in :mod:`.models`, in the order libvirt
checks those devices.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Protocol
from weakref import WeakKeyDictionary

from ..model.domain import Device, disk_bus
from ..placement.guest import Guest
from ..policy.capabilities import NEEDS, Needs
from ..xml.document import Element
from .findings import Finding
from .located import at, on

CODE = "qemu-capability"


def lacks(guest: Guest, kind: str, value: str | None) -> Needs | None:
    """What ``(kind, value)`` needs when the guest's QEMU has none of it, else None."""
    needs = NEEDS.get((kind, value or ""))
    if needs is None:
        return None
    for qemu_type in needs.types:
        if guest.has(qemu_type):
            return None
    return needs


def emulator_path(guest: Guest) -> str:
    """The binary as libvirt names it in its messages (``def->emulator``).

    Found once per guest: every refused device names it, and without an ``<emulator>`` the
    search reads every device (issue 18: 20,000 shmem devices took 10 s)."""
    known = _EMULATOR_PATHS.get(guest)
    if known is not None:
        return known
    written: str | None = guest.dom.root.findtext("devices/emulator")
    if written and written.strip():
        path = written.strip()
    else:
        binary = guest.emulator.binary
        path = binary if "/" in binary else f"/usr/bin/{binary}"
    _EMULATOR_PATHS[guest] = path
    return path


_EMULATOR_PATHS: WeakKeyDictionary[Guest, str] = WeakKeyDictionary()


def message(guest: Guest, needs: Needs) -> str:
    return _words(needs, emulator_path(guest))[0]


def _hint(guest: Guest, needs: Needs) -> str:
    return _words(needs, emulator_path(guest))[1]


@functools.lru_cache(maxsize=256)
def _words(needs: Needs, emulator: str) -> tuple[str, str]:
    """libvirt's message and the hint for a setting the binary lacks: made once, and shared by
    every device refused for it (500,000 shmem devices are 500,000 findings, issue 18)."""
    text = needs.message.replace("{emulator}", emulator)
    if not needs.types:
        return text, "QEMU has no such device; use another model"
    return text, (f"{emulator} has no {' or '.join(needs.types)}; use another model, or a "
                  "QEMU that has it")


class Refuse(Protocol):
    """The finding for a device whose setting the guest's QEMU lacks, or None."""

    def __call__(self, dev: Device, kind: str, value: str | None,
                 el: Element | None = None) -> Finding | None: ...


def _refuser(guest: Guest) -> Refuse:
    """:class:`Refuse` for the devices of one guest, each setting looked up once, however
    many devices have it (500,000 shmem devices, issue 18)."""
    known: dict[tuple[str, str | None], tuple[str, str] | None] = {}

    def refuse(dev: Device, kind: str, value: str | None,
               el: Element | None = None) -> Finding | None:
        key = (kind, value)
        if key in known:
            words = known[key]
        else:
            needs = lacks(guest, kind, value)
            words = known[key] = (None if needs is None
                                  else _words(needs, emulator_path(guest)))
        return None if words is None else on(dev, CODE, *words, el=el)

    return refuse


def _each(guest: Guest, tag: str) -> list[Device]:
    return [d for d in guest.dom.of(tag) if not d.implicit]


def check_device_types(guest: Guest) -> Iterator[Finding]:
    """The devices whose whole model needs one QEMU type."""
    refuse = _refuser(guest)
    found: list[Finding | None] = []
    for shmem in _each(guest, "shmem"):
        model = shmem.child("model")
        kind = model.get("type") if model is not None else None
        found.append(refuse(shmem, "shmem", kind or "ivshmem"))
    for sound in _each(guest, "sound"):
        found.append(refuse(sound, "sound", sound.model))
        # virDomainSoundModelSupportsCodecs (a sound without children has no codec to read)
        if sound.model in ("ich6", "ich9") and len(sound.el):
            found += [refuse(sound, "codec", c.get("type"), c)
                      for c in sound.el.findall("codec")]
    found += [refuse(v, "vsock", "vsock") for v in _each(guest, "vsock")]
    found += [refuse(h, "hub", h.type) for h in _each(guest, "hub")]
    found += [refuse(m, "memory", m.model) for m in _each(guest, "memory")]
    for rng in _each(guest, "rng"):
        rng_model = rng.model or ""
        found.append(refuse(rng, "rng", "virtio" if rng_model.startswith("virtio") else
                             rng_model))
    found += [refuse(r, "redirdev", r.el.get("bus") or "usb")
              for r in _each(guest, "redirdev")]
    found += [refuse(s, "smartcard", s.el.get("mode"))
              for s in _each(guest, "smartcard")]
    yield from (f for f in found if f is not None)


def check_host_devices(guest: Guest) -> Iterator[Finding]:
    """qemuValidateDomainDeviceDefHostdev and qemuValidateDomainMdevDef: the assignment
    devices QEMU needs (a PCI host device is always VFIO in libvirt 9.0)."""
    refuse = _refuser(guest)
    for host in _each(guest, "hostdev"):
        if host.el.get("mode", "subsystem") != "subsystem":
            continue
        kind = host.type
        if kind == "mdev":
            kind = host.el.get("model")
        elif kind == "scsi_host":
            source = host.child("source")
            kind = "vhost-scsi" if source is not None and source.get("protocol") == "vhost" \
                else None
        finding = refuse(host, "hostdev", kind)
        if finding is not None:
            yield finding
    for dev in guest.dom.devices:
        a = dev.address
        zpci = a.find("zpci") if a is not None and a.get("type") == "pci" else None
        if zpci is not None and (finding := refuse(dev, "zpci", "zpci", zpci)):
            yield finding  # qemuValidateDomainDeviceDefZPCIAddress


def check_storage(guest: Guest) -> Iterator[Finding]:
    """USB disks, SCSI LUNs, vhost-user disks, virtiofs, SATA and SCSI controller models."""
    refuse = _refuser(guest)
    for disk in _each(guest, "disk"):
        bus, source = disk_bus(disk), disk.child("source")
        if bus == "usb":
            finding = refuse(disk, "disk", "usb")
        elif disk.el.get("device") == "lun" and bus == "scsi":
            finding = refuse(disk, "disk", "lun")
        elif disk.type == "vhostuser" and source is not None:
            finding = refuse(disk, "disk", "vhostuser")
        else:
            finding = None
        if finding is not None:
            yield finding
    for fs in _each(guest, "filesystem"):
        driver = fs.child("driver")
        if driver is not None and driver.get("type") == "virtiofs" and (
                finding := refuse(fs, "filesystem", "virtiofs", driver)):
            yield finding
    for ctrl in guest.dom.controllers:
        if ctrl.implicit:
            continue
        if ctrl.type == "sata" and not (ctrl.index == 0 and guest.family is not None
                                        and guest.family.implicit_sata):
            finding = refuse(ctrl, "sata", "sata")
        elif ctrl.type == "scsi":
            finding = refuse(ctrl, "scsi", ctrl.el.get("model"))
        else:
            finding = None
        if finding is not None:
            yield finding


def check_machine_features(guest: Guest) -> Iterator[Finding]:
    """vmcoreinfo (qemuValidateDomainDefFeatures) and a VM generation id
    (qemuValidateDomainDef)."""
    root = guest.dom.root
    vmcoreinfo = root.find("features/vmcoreinfo")
    if vmcoreinfo is not None and vmcoreinfo.get("state", "on") == "on" and (
            needs := lacks(guest, "feature", "vmcoreinfo")):
        yield at(vmcoreinfo, CODE, message(guest, needs), _hint(guest, needs))
    genid = root.find("genid")
    if genid is not None and (needs := lacks(guest, "genid", "genid")):
        yield at(genid, CODE, message(guest, needs), _hint(guest, needs))


CHECKS = (check_device_types, check_host_devices, check_storage, check_machine_features)
