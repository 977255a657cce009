"""Define-time rules about controller options (not their addresses or indexes, which the
placement rules judge).

``qemuDomainControllerDefPostParse`` (qusb models, expander buses on their machines and NUMA
nodes), ``virDomainControllerDefValidate`` (the ranges of a PCI controller's target numbers) and
``qemuValidateDomainDeviceDefControllerPCI`` (which ``<model name>`` a PCI controller model
takes, which ``<target>`` options it takes, and that QEMU has its device), with
``qemuValidateDomainDeviceDefControllerAttributes`` (virtio-scsi's own options).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..model.domain import Device
from ..model.numbers import read
from ..placement.guest import Guest
from ..xml.document import Element
from .capabilities import CODE, lacks, message
from .findings import Finding
from .located import on


@dataclass(frozen=True)
class PciModel:
    """What a PCI controller model takes (qemuValidateDomainDeviceDefControllerPCI)."""

    names: tuple[str, ...]  # the <model name> values it accepts; () = none at all
    options: frozenset[str]  # the <target> options and elements it accepts


PCI_MODELS: dict[str, PciModel] = {
    "pci-root": PciModel(("spapr-pci-host-bridge",), frozenset({"index", "node", "hotplug",
                                                               "pcihole64"})),
    "pcie-root": PciModel((), frozenset({"pcihole64"})),
    "pci-bridge": PciModel(("pci-bridge",), frozenset({"chassisNr"})),
    "dmi-to-pci-bridge": PciModel(("i82801b11-bridge",), frozenset()),
    "pcie-root-port": PciModel(("pcie-root-port", "ioh3420"), frozenset({"chassis", "port",
                                                                          "hotplug"})),
    "pcie-switch-upstream-port": PciModel(("x3130-upstream",), frozenset()),
    "pcie-switch-downstream-port": PciModel(("xio3130-downstream",),
                                            frozenset({"chassis", "port", "hotplug"})),
    "pci-expander-bus": PciModel(("pxb",), frozenset({"busNr", "node"})),
    "pcie-expander-bus": PciModel(("pxb-pcie",), frozenset({"busNr", "node"})),
    "pcie-to-pci-bridge": PciModel(("pcie-pci-bridge",), frozenset()),
}
# libvirt's name for an option in its messages, in the order it checks them
OPTIONS = (("index", "targetIndex"), ("pcihole64", "pcihole64"), ("busNr", "busNr"),
           ("node", "numaNode"), ("chassisNr", "chassisNr"), ("chassis", "chassis"),
           ("port", "port"), ("hotplug", "hotplug"))
# virDomainControllerDefValidate: the ranges of the target numbers
RANGES = (("index", 0, 30, "target index"), ("chassisNr", 1, 255, "chassisNr"),
          ("chassis", 0, 255, "chassis"), ("port", 0, 255, "port"), ("busNr", 1, 254, "busNr"))
VIRTIO_SCSI = ("virtio-scsi", "virtio-transitional", "virtio-non-transitional")


def model_name(guest: Guest, ctrl: Device) -> str | None:
    """The ``<model name>`` of a PCI controller, written or as
    qemuDomainPCIControllerSetDefaultModelName picks it."""
    written = ctrl.child("model")
    if written is not None and written.get("name"):
        name: str = written.get("name")
        return name
    model = ctrl.model or ""
    if model == "pci-root":
        return "spapr-pci-host-bridge" if guest.family is not None and guest.family.phb \
            else None
    if model == "pcie-root-port":
        return "pcie-root-port" if guest.has("pcie-root-port") else "ioh3420"
    known = PCI_MODELS.get(model)
    return known.names[0] if known is not None and known.names else None


def _options(ctrl: Device) -> dict[str, Element]:
    """The options a PCI controller's definition sets, each with the element it is on."""
    out: dict[str, Element] = {}
    target = ctrl.child("target")
    if target is not None:
        for attr in ("index", "chassisNr", "chassis", "port", "busNr", "hotplug"):
            if target.get(attr) is not None:
                out[attr] = target
        if target.find("node") is not None:
            out["node"] = target.find("node")
    hole = ctrl.child("pcihole64")
    if hole is not None and (hole.text or "").strip() not in ("", "0"):
        out["pcihole64"] = hole
    return out


def check_pci_controllers(guest: Guest) -> Iterator[Finding]:
    """One finding at most per PCI controller, in libvirt's order."""
    cells = len(guest.dom.root.findall("cpu/numa/cell"))
    for ctrl in guest.dom.controllers:
        if ctrl.type != "pci" or ctrl.implicit or ctrl.model not in PCI_MODELS:
            continue
        finding = _pci_controller(guest, ctrl, cells)
        if finding is not None:
            yield finding


def _pci_controller(guest: Guest, ctrl: Device, cells: int) -> Finding | None:
    model = str(ctrl.model)
    family = guest.family.name if guest.family is not None else None
    if model == "pci-expander-bus" and family != "i440fx":
        return on(ctrl, "pci-controller", "pci-expander-bus controllers are only supported on "
                  "440fx-based machinetypes", "use pcie-expander-bus on q35")
    if model == "pcie-expander-bus" and family not in ("q35", "arm-virt"):
        return on(ctrl, "pci-controller", "pcie-expander-bus controllers are not supported "
                  "with this machine type", "use pci-expander-bus on pc machines")
    options = _options(ctrl)
    node_text = options["node"].text if "node" in options else None
    node = read(node_text, "i", 10) if node_text is not None else None  # virXPathInt
    if node is not None and node >= cells:
        return on(ctrl, "pci-controller", f"{model} with index {ctrl.index} is configured for "
                  f"a NUMA node ({node}) not present in the domain's <cpu><numa> array "
                  f"({cells})", f"the guest has NUMA nodes 0 to {cells - 1}" if cells
                  else "define the NUMA cells in <cpu><numa>", el=options["node"])
    for attr, low, high, what in RANGES:
        text = options[attr].get(attr) if attr in options else None
        value = read(text, "i", 0) if text is not None else None  # virXMLPropInt base 0
        if value is not None and not low <= value <= high:
            return on(ctrl, "pci-controller", f"PCI controller {what} '{value}' out of range - "
                      f"must be {low}-{high}", f"write a {what} from {low} to {high}",
                      el=options[attr])
    name = model_name(guest, ctrl)
    spec = PCI_MODELS[model]
    shown = name or "none"
    written = ctrl.child("model")
    if written is not None and written.get("name") and name not in spec.names:
        return on(ctrl, "pci-controller", f"Option 'modelName' has invalid value for PCI "
                  f"controller with index '{ctrl.index}', model '{model}' and modelName "
                  f"'{shown}'", f"a {model} is {' or '.join(spec.names) or 'no named model'}",
                  el=written)
    phb = name == "spapr-pci-host-bridge"
    for option, label in OPTIONS:
        if option not in options:
            continue
        allowed = option in spec.options and not (model == "pci-root" and option in (
            "index", "node") and not phb)
        if model == "pci-root" and option == "node" and phb and ctrl.index == 0:
            allowed = False  # the default PHB (target index 0) takes no NUMA node
        if model in ("pci-root", "pcie-root") and option == "pcihole64":
            wanted = "i440fx" if model == "pci-root" else "q35"
            if family != wanted:
                return on(ctrl, "pci-controller", "Setting the 64-bit PCI hole size is not "
                          f"supported for machine '{guest.machine}'", "remove <pcihole64>",
                          el=options[option])
            continue
        if not allowed:
            return on(ctrl, "pci-controller", f"Option '{label}' is not valid for PCI "
                      f"controller with index '{ctrl.index}', model '{model}' and modelName "
                      f"'{shown}'", f"a {model} takes no {label}", el=options[option])
    if name is not None and (needs := lacks(guest, "pci-model", name)) is not None:
        return on(ctrl, CODE, message(guest, needs), "use a controller model this QEMU has",
                  el=written)
    return None


def check_other_controllers(guest: Guest) -> Iterator[Finding]:
    """qemuDomainControllerDefPostParse (qusb) and
    qemuValidateDomainDeviceDefControllerAttributes (virtio-scsi's own driver options)."""
    virt = guest.dom.root.get("type") or "qemu"
    for ctrl in guest.dom.controllers:
        if ctrl.implicit:
            continue
        if ctrl.type == "usb" and ctrl.model in ("qusb1", "qusb2"):
            yield on(ctrl, "usb-controller", "USB controller model type 'qusb1' or 'qusb2' is "
                     f"not supported in {virt}", "use qemu-xhci")
            continue
        driver = ctrl.child("driver")
        if driver is None or (ctrl.type == "scsi" and ctrl.model in VIRTIO_SCSI):
            continue
        for attr, what in (("queues", "'queues' is only supported by virtio-scsi controller"),
                           ("cmd_per_lun", "'cmd_per_lun' is only supported by virtio-scsi "
                            "controller"),
                           ("max_sectors", "'max_sectors' is only supported by virtio-scsi "
                            "controller"),
                           ("ioeventfd", "'ioeventfd' is only supported by virtio-scsi "
                            "controller")):
            if driver.get(attr) is not None and ctrl.type in ("scsi",):
                yield on(ctrl, "scsi-controller", what, f"remove {attr}=", el=driver)
                break


CHECKS = (check_pci_controllers, check_other_controllers)
