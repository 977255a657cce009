"""The values libvirt 9.0 accepts for the attributes that decide a device's placement.

libvirt refuses a definition at parse time when one of these is not a value it knows (its enums
in ``src/conf/domain_conf.c``): a disk on an unknown bus or a sound card of an unknown model has
no place to go. The tables are data, listed in libvirt's own order; :func:`problems` reads a
device against them and says what libvirt would say.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..model.domain import Device
from ..xml.document import Element

DISK_BUSES = ("ide", "fdc", "scsi", "virtio", "xen", "usb", "uml", "sata", "sd")  # not "none"
DISK_DEVICES = ("disk", "cdrom", "floppy", "lun")
SOUND_MODELS = ("sb16", "es1370", "pcspk", "ac97", "ich6", "ich9", "usb", "ich7")
VIDEO_TYPES = ("default", "vga", "cirrus", "vmvga", "xen", "vbox", "qxl", "parallels", "virtio",
               "gop", "none", "bochs", "ramfb")
CONTROLLER_TYPES = ("ide", "fdc", "scsi", "sata", "virtio-serial", "ccid", "usb", "pci",
                    "xenbus", "isa")
# per controller type; a type that is not here takes no model at all. PCI controller models
# are not here: the rule "unknown-model" checks them against the bus table (rules.BUS_ACCEPTS).
CONTROLLER_MODELS: dict[str, tuple[str, ...]] = {
    "scsi": ("auto", "buslogic", "lsilogic", "lsisas1068", "vmpvscsi", "ibmvscsi", "virtio-scsi",
             "lsisas1078", "virtio-transitional", "virtio-non-transitional", "ncr53c90",
             "dc390", "am53c974"),
    "usb": ("piix3-uhci", "piix4-uhci", "ehci", "ich9-ehci1", "ich9-uhci1", "ich9-uhci2",
            "ich9-uhci3", "vt82c686b-uhci", "pci-ohci", "nec-xhci", "qusb1", "qusb2",
            "qemu-xhci", "none"),
    "ide": ("piix3", "piix4", "ich6"),
    "virtio-serial": ("virtio", "virtio-transitional", "virtio-non-transitional"),
}


def _invalid(attr: str, element: str, value: str) -> str:
    return f"Invalid value for attribute '{attr}' in element '{element}': '{value}'."


def problems(dev: Device) -> Iterator[tuple[Element, str]]:
    """(element, libvirt's message) for each value of ``dev`` libvirt 9.0 would refuse."""
    el = dev.el
    if dev.tag == "disk":
        device = el.get("device")
        if device is not None and device not in DISK_DEVICES:
            yield el, _invalid("device", "disk", device)
        target = dev.child("target")
        bus = target.get("bus") if target is not None else None
        if target is not None and bus is not None and bus not in DISK_BUSES:
            yield target, _invalid("bus", "target", bus)
    elif dev.tag == "sound":
        model = el.get("model")
        if model is None:
            yield el, "Missing required attribute 'model' in element 'sound'"
        elif model not in SOUND_MODELS:
            yield el, _invalid("model", "sound", model)
    elif dev.tag == "video":
        model_el = dev.child("model")
        kind = model_el.get("type") if model_el is not None else None
        if model_el is not None and kind is not None and kind not in VIDEO_TYPES:
            yield model_el, f"unknown video model '{kind}'"
    elif dev.tag == "controller":
        ctype = el.get("type")
        if ctype is None:
            return
        if ctype not in CONTROLLER_TYPES:
            yield el, _invalid("type", "controller", ctype)
            return
        if ctype == "pci":
            return
        model = el.get("model")
        if model is not None and model not in CONTROLLER_MODELS.get(ctype, ()):
            yield el, f"Unknown model type '{model}'"
