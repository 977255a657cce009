"""Define-time rules about disks: device against bus, target names, sources, formats and the
driver and frontend options libvirt 9.0 refuses.

From ``virDomainDiskDefValidate`` (``src/conf/domain_validate.c``),
``qemuValidateDomainDeviceDefDisk`` and ``qemuValidateDomainDeviceDefDiskFrontend``
(``src/qemu/qemu_validate.c``), ``qemuDomainValidateStorageSource`` (``qemu_domain.c``) and
``virDiskNameParse``. Drive addresses are the placement rules' business, not these.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..model.domain import Device, disk_bus, parse_disk_name
from ..placement.guest import Guest
from ..policy.devices import VIRTIO_MODELS
from ..policy.messages import unknown_disk_name
from ..xml.document import Element
from .findings import Finding
from .located import on

HARDDISK_PREFIXES = ("hd", "sd", "vd", "xvd", "ubd")
LOCAL_TYPES = {"file": "file", "block": "dev", "dir": "dir"}  # type -> <source> attribute
SERIAL_CHARS = re.compile(r"[A-Za-z0-9_ .+-]*$")


def disk_name_partition(name: str) -> int | None:
    """virDiskNameParse: the partition number of a target name (0 for none), or None when the
    name is not a disk name at all."""
    parsed = parse_disk_name(name)
    return None if parsed is None else parsed[1]


def disk_name_index(name: str) -> int | None:
    """virDiskNameToIndex: a target name's index as virDiskNameParse's C ``int`` computes
    it, or None when libvirt finds none. The ``int`` wraps around (the same as the whole
    number taken modulo 2**32), so a name of seven letters or more can come out negative,
    and libvirt then knows no such disk."""
    parsed = parse_disk_name(name)
    if parsed is None:
        return None
    idx = (parsed[0] + 2**31) % 2**32 - 2**31
    return idx if idx >= 0 else None


def _source_path(disk: Device) -> str | None:
    source = disk.child("source")
    kind = disk.type or "file"
    if source is None:
        return None
    attr = LOCAL_TYPES.get(kind, {"volume": "volume", "network": "name"}.get(kind, "path"))
    value: str | None = source.get(attr)
    if kind == "network":
        value = value or source.get("protocol")
    return value


def _empty(disk: Device) -> bool:
    """virStorageSourceIsEmpty: a local disk without a path, or a network disk without a
    protocol."""
    source = disk.child("source")
    kind = disk.type or "file"
    if kind in LOCAL_TYPES:
        return source is None or not source.get(LOCAL_TYPES[kind])
    if kind == "network":
        return source is None or not source.get("protocol")
    return False


def check_disks(guest: Guest) -> Iterator[Finding]:
    """Each disk, in the order libvirt validates one."""
    for disk in guest.dom.of("disk"):
        if disk.implicit:
            continue
        finding = _target(disk) or _generic(disk) or _qemu(disk)
        if finding is not None:
            yield finding


def _target(disk: Device) -> Finding | None:
    """virDomainDiskDefValidate's first rule: the disk has a target."""
    target = disk.child("target")
    if target is None or not target.get("dev"):
        path = _source_path(disk)
        return on(disk, "disk-target", f"missing target information for device {path}"
                  if path else "missing target information for device",
                  "add <target dev='vda' bus='virtio'/>", el=target)
    name = str(target.get("dev"))
    if disk.address is None and disk_name_index(name) is None:
        # virDomainDiskDefAssignAddress, in post-parse, for a disk of any bus
        return on(disk, "disk-target", unknown_disk_name(name), "name it vda, sdb, hdc ...",
                  el=target)
    return None


def _generic(disk: Device) -> Finding | None:
    """virDomainDiskDefValidate after the target."""
    device = disk.el.get("device") or "disk"
    bus = disk_bus(disk) or "ide"
    name = disk.target("dev") or ""
    target = disk.child("target")
    if device == "lun" and disk.type not in ("block", "network", "volume"):
        return on(disk, "disk-device", "disk device='lun' is only valid for block type disk "
                  "source", "use type='block' with a host block device, or device='disk'")
    driver = disk.child("driver")
    if device != "lun" and disk.el.get("sgio") is not None:
        return on(disk, "disk-device", "sgio can be used only with device='lun'",
                  "remove sgio=")
    if device != "lun" and disk.el.get("rawio") is not None:
        return on(disk, "disk-device", "rawio can be used only with device='lun'",
                  "remove rawio=")
    model = disk.el.get("model")
    if bus != "virtio":
        if model in VIRTIO_MODELS:
            return on(disk, "disk-device", f"disk model '{model}' not supported for bus "
                      f"'{bus}'", "remove model=, or use bus='virtio'")
        if driver is not None and driver.get("queues") is not None:
            return on(disk, "disk-device", "queues attribute in disk driver element is only "
                      "supported by virtio-blk", "remove queues=", el=driver)
        for attr, what in (("event_idx", "event_idx"), ("ioeventfd", "ioeventfd")):
            if driver is not None and driver.get(attr) is not None:
                return on(disk, "disk-device", f"disk {what} mode supported only for virtio "
                          "bus", f"remove {attr}=", el=driver)
    if target is not None and target.get("tray") is not None and \
            device not in ("cdrom", "floppy"):
        return on(disk, "disk-device", "tray is only valid for cdrom and floppy",
                  "remove tray=", el=target)
    vendor, product = disk.child_text("vendor"), disk.child_text("product")
    if vendor is not None and len(vendor) > 8:
        return on(disk, "disk-device", "disk vendor is more than 8 characters",
                  "shorten <vendor>", el=disk.child("vendor"))
    if product is not None and len(product) > 16:
        return on(disk, "disk-device", "disk product is more than 16 characters",
                  "shorten <product>", el=disk.child("product"))
    if device == "floppy" and bus != "fdc":
        return on(disk, "disk-device", f"Invalid bus type '{bus}' for floppy disk",
                  "a floppy sits on bus='fdc'", el=target)
    if device != "floppy" and bus == "fdc":
        return on(disk, "disk-device", "Invalid bus type 'fdc' for disk",
                  "bus='fdc' is for floppies", el=target)
    if target is not None and target.get("removable") is not None and bus != "usb":
        return on(disk, "disk-device", "removable is only valid for usb disks",
                  "remove removable=", el=target)
    if device in ("disk", "lun") and not name.startswith(HARDDISK_PREFIXES):
        return on(disk, "disk-target", f"Invalid harddisk device name: {name}",
                  "name it vdX, sdX or hdX", el=target)
    if device == "floppy" and not name.startswith("fd"):
        return on(disk, "disk-target", f"Invalid floppy device name: {name}",
                  "name it fda or fdb", el=target)
    if device == "disk" and _empty(disk):
        return on(disk, "disk-source", f"missing source information for device {name}",
                  "a disk needs its <source>; only a cdrom or floppy may be empty")
    return None


def _format(driver: Element | None) -> str | None:
    return driver.get("type") if driver is not None else None


def _qemu(disk: Device) -> Finding | None:
    """qemuValidateDomainDeviceDefDiskFrontend and qemuValidateDomainDeviceDefDisk."""
    device = disk.el.get("device") or "disk"
    bus = disk_bus(disk) or "ide"
    name = disk.target("dev") or ""
    driver = disk.child("driver")
    readonly = disk.child("readonly") is not None
    if device == "cdrom" and bus in ("virtio", "sd"):
        return on(disk, "disk-device", f"disk type of '{name}' does not support ejectable "
                  "media", "put the cdrom on bus='sata', 'scsi' or 'ide'",
                  el=disk.child("target"))
    serial = disk.child_text("serial")
    wwn = disk.child_text("wwn")
    if wwn is not None and bus not in ("ide", "scsi"):
        return on(disk, "disk-device", "Only ide and scsi disk support wwn", "remove <wwn>")
    if (disk.child("vendor") is not None or disk.child("product") is not None) and \
            bus != "scsi":
        return on(disk, "disk-device", "Only scsi disk supports vendor and product",
                  "remove <vendor> and <product>, or use bus='scsi'")
    if device == "lun" and bus not in ("virtio", "scsi"):
        return on(disk, "disk-device", f"disk device='lun' is not supported for bus='{bus}'",
                  "use bus='scsi' or 'virtio'", el=disk.child("target"))
    if readonly and device == "disk" and bus in ("ide", "sata"):
        return on(disk, "disk-device", f"readonly {bus} disks are not supported",
                  "remove <readonly/>, or use a cdrom or another bus",
                  el=disk.child("readonly"))
    io, cache = (driver.get("io"), driver.get("cache")) if driver is not None else (None, None)
    if io == "native" and cache not in ("directsync", "none"):
        return on(disk, "disk-device", "io='native' needs either no disk cache or directsync "
                  "cache mode", "write cache='none'", el=driver)
    if serial is not None and not SERIAL_CHARS.match(serial):
        return on(disk, "disk-device", f"driver serial '{serial}' contains unsafe characters",
                  "use letters, digits, ' ', '.', '+', '-' and '_'", el=disk.child("serial"))
    # qemuDomainDeviceDiskDefPostParse makes a disk without a format raw
    if disk.child("shareable") is not None and not readonly and \
            _format(driver) not in (None, "raw"):
        return on(disk, "disk-device", f"shared access for disk '{name}' requires use of "
                  "supported storage format", "use <driver type='raw'/>")
    driver_name = driver.get("name") if driver is not None else None
    if driver_name is not None and driver_name != "qemu":
        return on(disk, "disk-device", f"unsupported driver name '{driver_name}' for disk "
                  f"'{name}'", "write name='qemu'", el=driver)
    partition = disk_name_partition(name)
    if partition is None:
        return on(disk, "disk-target", f"invalid disk target '{name}'",
                  "name it vda, sdb, hdc ...", el=disk.child("target"))
    if partition:
        return on(disk, "disk-target", f"invalid disk target '{name}', partitions can't "
                  "appear in disk targets", "name the whole disk: drop the number",
                  el=disk.child("target"))
    return _storage(disk, driver)


SECRET_USAGES = ("none", "volume", "ceph", "iscsi", "tls", "vtpm")
NO_AUTH_PROTOCOLS = ("nbd", "sheepdog", "gluster", "tftp", "vxhs", "nfs")


def check_disk_sources(guest: Guest) -> Iterator[Finding]:
    """virDomainDiskDefParseXML (one <auth>, one <encryption>) and
    virDomainDiskDefValidateSourceChainOne (authentication of network disks)."""
    for disk in guest.dom.of("disk"):
        source = disk.child("source")
        if disk.implicit or source is None:
            continue
        for tag in ("auth", "encryption"):
            if disk.child(tag) is not None and source.find(tag) is not None:
                yield on(disk, "disk-source", f"an <{tag}> definition already found for disk "
                         "source", f"keep the <{tag}> inside <source>", el=disk.child(tag))
                break
        else:
            auth = source.find("auth") if source.find("auth") is not None else \
                disk.child("auth")
            if auth is not None and disk.type == "network":
                finding = _auth(disk, source, auth)
                if finding is not None:
                    yield finding


def _auth(disk: Device, source: Element, auth: Element) -> Finding | None:
    protocol = source.get("protocol")
    if protocol in NO_AUTH_PROTOCOLS:
        return on(disk, "disk-source", f"authentication is not supported for protocol "
                  f"'{protocol}'", "remove <auth>", el=auth)
    secret = auth.find("secret")
    usage = secret.get("type") if secret is not None else None
    if usage not in SECRET_USAGES:
        return on(disk, "disk-source", f"unknown secret type '{usage or '<null>'}'",
                  "write <secret type='iscsi' (or 'ceph') .../>", el=secret)
    wanted = {"iscsi": "iscsi", "rbd": "ceph"}.get(protocol or "")
    if wanted is not None and usage != wanted:
        return on(disk, "disk-source", f"invalid secret type '{usage}'",
                  f"a {protocol} disk takes a secret of type '{wanted}'", el=secret)
    return None


def _storage(disk: Device, driver: Element | None) -> Finding | None:
    """qemuDomainValidateStorageSource, for the formats people write."""
    fmt = _format(driver)
    if fmt == "cow":
        return on(disk, "disk-format", "'cow' storage format is not supported",
                  "use qcow2 or raw", el=driver)
    if fmt == "dir":
        return on(disk, "disk-format", "'directory' storage format is not directly supported "
                  "by QEMU, use 'dir' disk type instead", "use type='dir' with format fat",
                  el=driver)
    if fmt == "iso":
        return on(disk, "disk-format", "storage format 'iso' is not directly supported by "
                  "QEMU, use 'raw' instead", "write type='raw'", el=driver)
    encryption = disk.child("source")
    encryption = encryption.find("encryption") if encryption is not None else None
    encryption = encryption if encryption is not None else disk.child("encryption")
    if encryption is not None and encryption.get("engine") in (None, "qemu"):
        kind = encryption.get("format")
        if kind in (None, "default", "qcow"):
            return on(disk, "disk-format", "old qcow/qcow2 encryption is not supported",
                      "use format='luks'", el=encryption)
        if kind == "luks" and encryption.find("cipher") is not None:
            return on(disk, "disk-format", "supplying <cipher> for domain disk definition is "
                      "unnecessary", "remove <cipher>", el=encryption.find("cipher"))
        if kind == "luks" and fmt not in (None, "raw", "qcow2"):
            return on(disk, "disk-format", "encryption is supported only with 'raw' and "
                      "'qcow2' image format", "use a raw or qcow2 image", el=encryption)
    return None


CHECKS = (check_disks, check_disk_sources)
