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
from ..model.values import CONTROLLER_NODE, target_option, text_value
from ..placement.guest import Guest
from ..policy.devices import ROOT_MODELS, VIRTIO_SCSI_MODELS, default_model_name
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


def model_name(guest: Guest, ctrl: Device) -> str | None:
    """The ``<model name>`` of a PCI controller, written or as
    qemuDomainPCIControllerSetDefaultModelName picks it."""
    written = ctrl.child("model")
    name = written.get("name") if written is not None else None
    if name:
        return name
    phb = guest.family is not None and guest.family.phb
    return default_model_name(ctrl.model or "", phb, guest.has("pcie-root-port"))


def _options(ctrl: Device) -> dict[str, Element]:
    """The options a PCI controller's definition sets, each with the element it is on."""
    out: dict[str, Element] = {}
    target = ctrl.child("target")
    if target is not None:
        for attr in ("index", "chassisNr", "chassis", "port", "busNr", "hotplug"):
            if target.get(attr) is not None:
                out[attr] = target
        node = target.find("node")
        if node is not None:
            out["node"] = node
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
    node = text_value(options.get("node"), CONTROLLER_NODE)
    if node is not None and node >= cells:
        return on(ctrl, "pci-controller", f"{model} with index {ctrl.index} is configured for "
                  f"a NUMA node ({node}) not present in the domain's <cpu><numa> array "
                  f"({cells})", f"the guest has NUMA nodes 0 to {cells - 1}" if cells
                  else "define the NUMA cells in <cpu><numa>", el=options["node"])
    for attr, low, high, what in RANGES:
        value = target_option(options.get(attr), attr)
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
        if model in ROOT_MODELS and option == "pcihole64":
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
        if driver is None or (ctrl.type == "scsi" and ctrl.model in VIRTIO_SCSI_MODELS):
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


# The field of another kind of address that shares its memory with a PCI address's bus in
# virDomainDeviceInfo's union, and how it is read (virStrToLong_uip, base): libvirt reads a
# pci-bridge's bus from it all the same. A USB port's first number and the high half of a
# spapr-vio reg sit there too; a dimm address leaves it zero.
ALIASED_BUS: dict[str, tuple[str, int]] = {
    "drive": ("bus", 10), "virtio-serial": ("bus", 10), "ccid": ("slot", 10),
    "isa": ("irq", 16), "ccw": ("ssid", 0),
}


def aliased_bus(address: Element) -> int:
    """The bus qemuDomainAssignPCIAddresses reads from a non-PCI ``address``."""
    kind = address.get("type")
    if kind in ALIASED_BUS:
        attr, base = ALIASED_BUS[kind]
        text = address.get(attr)
        return (read(text, "uip", base) or 0) if text is not None else 0
    if kind == "usb":
        first = (address.get("port") or "").split(".")[0]
        return read(first, "uip", 10) or 0 if first else 0
    if kind == "spapr-vio":
        text = address.get("reg")
        return ((read(text, "ullp", 16) or 0) >> 32) if text is not None else 0
    return 0


def check_bridge_buses(guest: Guest) -> Iterator[Finding]:
    """qemuDomainAssignPCIAddresses: a pci-bridge's index must be larger than its bus; the bus
    of an address of another kind is the field that shares its memory (:data:`ALIASED_BUS`)."""
    for ctrl in guest.dom.controllers:
        address = ctrl.address
        if ctrl.model != "pci-bridge" or address is None or address.get("type") in (
                None, "pci"):
            continue
        bus = aliased_bus(address)
        if ctrl.index <= bus:
            yield on(ctrl, "pci-index", f"PCI controller at index {ctrl.index} "
                     f"(0x{ctrl.index:02x}) has bus='0x{bus:02x}', but index must be larger "
                     "than bus", "give the bridge a PCI address, or leave it out",
                     el=address)


def check_pci_models(guest: Guest) -> Iterator[Finding]:
    """virDomainPCIAddressBusSetModel: libvirt gives a model only to the PCI root (index 0);
    any other PCI controller written without one is refused."""
    for ctrl in guest.dom.controllers:
        if ctrl.type == "pci" and not ctrl.implicit and ctrl.index != 0 and (
                ctrl.el.get("model") is None):
            yield on(ctrl, "pci-model", "PCI controller model was not set correctly",
                     "write its model: pcie-root-port, pci-bridge, ...")


CHECKS = (check_pci_controllers, check_other_controllers, check_bridge_buses,
          check_pci_models)
