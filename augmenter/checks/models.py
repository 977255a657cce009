"""Define-time rules about devices: models foreign to the architecture or machine, and the
options libvirt 9.0 refuses for a device.

TPMs (``qemuValidateDomainDeviceDefTPM``, ``virDomainTPMDevValidate``), watchdogs and panics
(``qemuValidateDomainWatchdogDef``, ``qemuValidateDomainDefPanic``), IOMMUs
(``virDomainIOMMUDefValidate``, ``qemuValidateDomainDeviceDefIOMMU``,
``virDomainDefIOMMUValidate``), videos (``virDomainVideoDefValidate``,
``qemuValidateDomainDeviceDefVideo``), inputs (``virDomainInputDefValidate``,
``qemuValidateDomainDeviceDefInput``), sound, balloons, vsock, NVRAM, character devices and
their sources (``virDomainChrSourceDefValidate``, ``qemuValidateDomainChrDef``), network
interfaces (``virDomainNetDefValidate``, ``qemuValidateDomainDeviceDefNetwork``), graphics,
shared memory, filesystems and host devices. Where a rule needs a QEMU device type, it asks
:func:`.capabilities.lacks`, in the order libvirt checks the device.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..model.domain import Device
from ..model.numbers import read
from ..model.values import (
    BALLOON_PERIOD,
    CONTROLLER_QUEUES,
    NET_DRIVER_FIELDS,
    RECONNECT_TIMEOUT,
    VIDEO_MODEL_FIELDS,
    VSOCK_CID,
    field_value,
)
from ..placement.guest import Guest
from ..policy import machines
from ..policy.devices import PANIC_WITHOUT_ADDRESS, VIRTIO_MODELS
from ..policy.machines import PPC64, S390, X86
from ..xml.document import Element
from .capabilities import CODE, lacks, message
from .findings import Finding
from .located import at, on
from .platform import is_arm_virt, is_pseries, is_q35

NET_MODEL_CHARS = re.compile(r"[A-Za-z0-9_-]*$")
MAC = re.compile(r"([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):"
                 r"([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})$")


def _each(guest: Guest, tag: str) -> list[Device]:
    return [d for d in guest.dom.each(tag) if not d.implicit]


def _capability(guest: Guest, dev: Device, kind: str, value: str | None,
                el: Element | None = None) -> Finding | None:
    needs = lacks(guest, kind, value)
    if needs is None:
        return None
    return on(dev, CODE, message(guest, needs), "this QEMU has no such device; use another "
              "model", el=el)


# ---- TPM, watchdog, panic, IOMMU --------------------------------------------------------------


def tpm_model(guest: Guest, tpm: Device) -> str:
    """qemuDomainTPMDefPostParse: tpm-spapr on pSeries, else tpm-tis."""
    return tpm.model or ("tpm-spapr" if guest.dom.arch in PPC64 else "tpm-tis")


def check_tpms(guest: Guest) -> Iterator[Finding]:
    """virDomainTPMDevValidate, then qemuValidateDomainDeviceDefTPM in its order."""
    for tpm in _each(guest, "tpm"):
        finding = _tpm(guest, tpm)
        if finding is not None:
            yield finding


def _tpm(guest: Guest, tpm: Device) -> Finding | None:
    model, backend = tpm_model(guest, tpm), tpm.child("backend")
    kind = backend.get("type") if backend is not None else None
    if backend is None or kind is None:
        return None
    version = backend.get("version")
    if kind == "emulator" and version is None:
        version = "2.0" if model in ("tpm-spapr", "tpm-crb") or is_arm_virt(guest) else "1.2"
    if kind == "emulator" and backend.find("active_pcr_banks") is not None and \
            version != "2.0":
        return on(tpm, "tpm", "<active_pcr_banks/> requires TPM version '2.0'",
                  "write version='2.0'", el=backend)
    if kind == "external":
        source = backend.find("source")
        if source is not None and source.get("type", "unix") != "unix":
            return on(tpm, "tpm", "only source type 'unix' is supported for external TPM "
                      "device", "use a unix socket", el=source)
        if source is not None and source.get("mode") == "bind":
            return on(tpm, "tpm", "only 'client' mode is supported for external TPM device",
                      "write mode='connect'", el=source)
    if kind == "emulator" and version == "1.2":
        if model == "tpm-crb":
            return on(tpm, "tpm", "Unsupported interface 'tpm-crb' for TPM 1.2",
                      "use version='2.0', or model='tpm-tis'", el=backend)
        if model == "tpm-spapr":
            return on(tpm, "tpm", "TPM 1.2 is not supported with the SPAPR device model",
                      "use version='2.0'", el=backend)
        if is_arm_virt(guest):
            return on(tpm, "tpm", "TPM 1.2 is not supported on ARM", "use version='2.0'",
                      el=backend)
    if (needs := lacks(guest, "tpm-backend", kind)) is not None:
        return on(tpm, CODE, message(guest, needs), "this QEMU has no TPM", el=backend)
    if guest.dom.arch in PPC64 and model == "spapr-tpm-proxy" and kind != "passthrough":
        return on(tpm, "tpm", "TPM Proxy model spapr-tpm-proxy requires 'Passthrough' backend",
                  "use <backend type='passthrough'>", el=backend)
    return _capability(guest, tpm, "tpm", model)


def check_watchdogs(guest: Guest) -> Iterator[Finding]:
    """qemuValidateDomainWatchdogDef: diag288 is the s390 watchdog."""
    for dog in _each(guest, "watchdog"):
        if dog.model == "diag288" and dog.address is None and guest.dom.arch not in S390:
            yield on(dog, "watchdog", "diag288 model of watchdog is allowed for s390 and s390x "
                     "only", "use i6300esb or ib700 on this architecture")


def check_panics(guest: Guest) -> Iterator[Finding]:
    """qemuValidateDomainDefPanic: each panic model belongs to an architecture or machine."""
    default = (guest.family.panic if guest.family else None) or "isa"
    for panic in _each(guest, "panic"):
        model = panic.model or default
        if model == "s390" and guest.dom.arch not in S390:
            yield on(panic, "panic", "only S390 guests support panic device of model 's390'",
                     "use model='isa' (x86) or remove the panic device")
        elif model == "hyperv" and guest.dom.arch not in X86:
            yield on(panic, "panic", "only i686 and x86_64 guests support panic device of "
                     "model 'hyperv'", "remove the panic device")
        elif model == "pseries" and not is_pseries(guest):
            yield on(panic, "panic", "only pSeries guests support panic device of model "
                     "'pseries'", "use model='isa' (x86) or remove the panic device")
        elif model == "isa" and (finding := _capability(guest, panic, "panic", "isa")):
            yield finding


# ---- the address kinds a device takes -----------------------------------------------------

# (device, its model or bus) -> (the address types libvirt lets it take, libvirt's words when it
# has another): virDomainInputDefParseXML and virDomainRedirdevDefParseXML (a USB device's),
# qemuValidateDomainWatchdogDef, qemuValidateDomainDefPanic. No address at all is always fine.
ADDRESS_KINDS: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("input", "usb"): (("usb",), "Invalid address for a USB device"),
    ("redirdev", "usb"): (("usb",), "Invalid address for a USB device"),
    ("watchdog", "i6300esb"): (("pci",), "i6300esb model of watchdog can go only on PCI bus"),
    ("watchdog", "ib700"): ((), "ib700 model of watchdog does not support configuring the "
                                "address"),
    ("watchdog", "diag288"): ((), "diag288 model of watchdog is virtual and cannot go on any "
                                  "bus."),
    ("panic", "isa"): (("isa",), "panic is supported only with ISA address type"),
    **{("panic", model): ((), "setting the panic device address is not supported for model "
                              f"'{model}'") for model in PANIC_WITHOUT_ADDRESS},
}


def _address_key(guest: Guest, dev: Device) -> str | None:
    """What decides the address kinds of a device: an input's or redirdev's bus, a panic's
    model after post-parse (the machine's own by default), else its model."""
    if dev.tag == "input":
        return input_bus(guest, dev)
    if dev.tag == "redirdev":
        bus: str = dev.el.get("bus") or "usb"
        return bus
    if dev.tag == "panic":
        return dev.model or (guest.family.panic if guest.family else None) or "isa"
    return dev.model


def replacement(guest: Guest, dev: Device) -> str | None:
    """The kind of address libvirt writes over the one the user gave ``dev`` when it assigns
    addresses (before it validates anything), ``""`` when it drops the address, or None
    when it keeps it: virtio channels and consoles (virDomainVirtioSerialAddrAssign), USB
    hubs (qemuDomainAssignUSBHubs), the chipset's own controllers
    (qemuDomainValidateDevicePCISlotsPIIX3, ...Q35), the devices that sit on pSeries' VIO bus
    (qemuDomainAssignSpaprVIOAddresses); virDomainMemballoonDefParseXML reads no address on a
    balloon of model 'none'."""
    kind = dev.address_type
    if kind is None:
        return None
    new = _replacing_kind(guest, dev)
    return new if new is not None and new != kind else None


def _replacing_kind(guest: Guest, dev: Device) -> str | None:
    tag = dev.tag
    if tag == "memballoon":
        return "" if dev.model == "none" else None
    if tag == "console" and dev.target("type") in (None, "serial") and (
            guest.dom.of("console")[:1] == [dev]):
        return ""  # the serial port's copy (virDomainDefAddConsoleCompat)
    if tag in ("channel", "console") and dev.target("type") == "virtio":
        return "virtio-serial"
    if tag == "hub" and dev.type == "usb":
        return "usb"
    if tag == "controller" and guest.family is not None and any(
            pin.type == dev.type and pin.index == dev.index and
            (pin.models is None or dev.model in pin.models) for pin in guest.family.pinned):
        return "pci"
    if (tag == "interface" and dev.model == "spapr-vlan") or (
            tag == "controller" and dev.type == "scsi" and dev.model == "ibmvscsi") or (
            tag == "serial" and serial_target(guest, dev)[0] == "spapr-vio-serial") or (
            is_pseries(guest) and (tag == "nvram" or (
                tag == "tpm" and dev.model != "spapr-tpm-proxy"))):
        return "spapr-vio"
    return None


def check_replaced_addresses(guest: Guest) -> Iterator[Finding]:
    """An address libvirt drops or writes over: the setting is lost without a word."""
    for dev in guest.dom.devices:
        if dev.address is None:
            continue  # nothing to replace (most devices)
        new = replacement(guest, dev)
        if new is None or dev.implicit:
            continue
        old = dev.address_type
        if new:
            yield on(dev, "address-replaced", f"libvirt 9.0 writes a {new} address over this "
                     f"<address type='{old}'> when it defines the domain",
                     f"leave the address out, or write <address type='{new}' ...>",
                     severity="warning", el=dev.address)
        else:
            what = (f"a {dev.tag} of model '{dev.model}'" if dev.tag == "memballoon"
                    else "a serial console, the serial port's copy")
            yield on(dev, "address-replaced", f"libvirt 9.0 keeps no <address> on {what}: it "
                     "drops it when it defines the domain", "remove the <address>",
                     severity="warning", el=dev.address)


def check_address_kinds(guest: Guest) -> Iterator[Finding]:
    """A device with an address of a kind it cannot take; an ``unassigned`` address on
    anything but a host device (virDomainDeviceInfoValidate). An address libvirt writes over
    before it validates is not judged (:func:`replacement`)."""
    for dev in guest.dom.devices:
        if dev.address is None:
            continue  # no address to be of a wrong kind (most devices)
        kind = dev.address_type
        if kind is None or dev.implicit:
            continue
        if replacement(guest, dev) is not None and dev.tag != "console":
            continue  # a console keeps its own address until libvirt formats the serial's
        if kind == "unassigned" and dev.tag != "hostdev":
            yield on(dev, "address-type", "address of type 'unassigned' is supported only for "
                     "hostdevs", "remove the <address>, or make it of a kind the device takes",
                     el=dev.address)
            continue
        key = _address_key(guest, dev)
        rule = ADDRESS_KINDS.get((dev.tag, key)) if key is not None else None
        if rule is not None and kind not in rule[0]:
            takes = (f"write <address type='{rule[0][0]}' ...> or leave the address out"
                     if rule[0] else "remove the <address>: libvirt places no such device")
            yield on(dev, "address-type", rule[1], takes, el=dev.address)


IOMMU_OPTIONS = ("intremap", "caching_mode", "eim", "iotlb", "aw_bits")


def check_iommu(guest: Guest) -> Iterator[Finding]:
    """virDomainIOMMUDefValidate, qemuValidateDomainDeviceDefIOMMU, virDomainDefIOMMUValidate."""
    for iommu in _each(guest, "iommu"):
        finding = _iommu(guest, iommu)
        if finding is not None:
            yield finding


def _iommu(guest: Guest, iommu: Device) -> Finding | None:
    model, driver = iommu.model, iommu.child("driver")
    options = {k: driver.get(k) for k in IOMMU_OPTIONS if driver is not None
               and driver.get(k) is not None}
    if model in ("smmuv3", "virtio") and options:
        return on(iommu, "iommu", f"iommu model '{model}' doesn't support additional "
                  "attributes", f"remove {', '.join(options)} from <driver>", el=driver)
    machine = {"intel": ("Q35 machines", is_q35(guest)),
               "smmuv3": ("ARM Virt machines", is_arm_virt(guest)),
               "virtio": ("Q35 and ARM Virt machines", is_q35(guest) or is_arm_virt(guest))}
    if model in machine and not machine[model][1]:
        return on(iommu, "iommu", f"IOMMU device: '{model}' is only supported with "
                  f"{machine[model][0]}", "remove the IOMMU, or use a machine that has it")
    if model in ("intel", "virtio") and (finding := _capability(guest, iommu, "iommu", model)):
        return finding
    if model == "virtio" and guest.dom.root.find("features/acpi") is None:
        return on(iommu, "iommu", "IOMMU device: 'virtio' requires ACPI",
                  "add <acpi/> to <features>")
    ioapic = guest.dom.root.find("features/ioapic")
    if options.get("intremap") == "on" and (ioapic is None or ioapic.get("driver") != "qemu"):
        return on(iommu, "iommu", "IOMMU interrupt remapping requires split I/O APIC "
                  "(ioapic driver='qemu')", "add <ioapic driver='qemu'/> to <features>",
                  el=driver)
    if options.get("eim") == "on" and options.get("intremap") != "on":
        return on(iommu, "iommu", "IOMMU eim requires interrupt remapping to be enabled",
                  "add intremap='on'", el=driver)
    return None


# ---- video, input, sound, balloon, vsock, NVRAM ------------------------------------------------


def check_videos(guest: Guest) -> Iterator[Finding]:
    """virDomainVideoDefValidate and qemuValidateDomainDeviceDefVideo."""
    videos = _each(guest, "video")
    for n, video in enumerate(videos):
        finding = _video(guest, video, primary=n == 0)
        if finding is not None:
            yield finding


def _video(guest: Guest, video: Device, primary: bool) -> Finding | None:
    model_el, kind = video.child("model"), video.model
    if model_el is None or kind is None:
        return None
    for attr in ("ram", "vram64", "vgamem"):
        value = field_value(model_el, VIDEO_MODEL_FIELDS[attr])
        if kind != "qxl" and value:
            return on(video, "video", f"{attr} attribute only supported for video type qxl",
                      f"remove {attr}=", el=model_el)
    if kind == "ramfb" and video.address is not None:
        return on(video, "video", "address not supported for video type ramfb",
                  "remove the <address>")
    if kind == "none":
        return None
    if (needs := lacks(guest, "video", kind)) is not None:
        return on(video, CODE, message(guest, needs), "use a video model this machine's QEMU "
                  "has", el=model_el)
    if kind not in ("qxl", "virtio"):
        if not primary:
            return on(video, "video", f"video type '{kind}' is only valid as primary video "
                      "device", "only qxl and virtio can be secondary videos", el=model_el)
        heads = field_value(model_el, VIDEO_MODEL_FIELDS["heads"])
        if heads is not None and heads != 1:
            return on(video, "video", f"video type '{kind}' doesn't support multiple 'heads'",
                      "remove heads=", el=model_el)
    accel = model_el.find("acceleration")
    if accel is not None and accel.get("accel2d") == "yes":
        return on(video, "video", "qemu does not support the accel2d setting",
                  "remove accel2d", el=accel)
    if accel is not None and accel.get("accel3d") == "yes" and kind != "virtio":
        return on(video, "video", "3d acceleration is supported only with 'virtio' video "
                  "device", "use model type='virtio'", el=accel)
    return None


def input_bus(guest: Guest, dev: Device) -> str | None:
    """The bus an input device is on (virDomainInputDefParseXML's default: PS/2 for an x86
    mouse or keyboard, else USB; virtio for passthrough, none for evdev)."""
    bus: str | None = dev.el.get("bus")
    if bus is not None:
        return bus
    if dev.type == "passthrough":
        return "virtio"
    if dev.type == "evdev":
        return None
    return "ps2" if guest.dom.arch in X86 and dev.type in ("mouse", "keyboard") else "usb"


def check_inputs(guest: Guest) -> Iterator[Finding]:
    """virDomainInputDefValidate and qemuValidateDomainDeviceDefInput, in their order."""
    for dev in _each(guest, "input"):
        finding = _input(guest, dev)
        if finding is not None:
            yield finding


def _input(guest: Guest, dev: Device) -> Finding | None:
    kind, bus, model = dev.type, input_bus(guest, dev), dev.el.get("model")
    if bus == "ps2" and kind not in ("mouse", "keyboard"):
        return on(dev, "input", f"ps2 bus does not support {kind} input device",
                  "use bus='usb' or 'virtio'")
    if bus == "xen":
        return on(dev, "input", "unsupported input bus xen", "use bus='usb' or 'virtio'")
    if kind == "passthrough" and bus != "virtio":
        return on(dev, "input", "only bus 'virtio' is supported for 'passthrough' input "
                  "devices", "write bus='virtio'")
    if kind == "evdev" and dev.el.get("bus") is not None:
        return on(dev, "input", "input evdev doesn't support bus element", "remove bus=")
    if model in ("virtio", "virtio-transitional", "virtio-non-transitional") and bus != "virtio":
        return on(dev, "input", f"only bus 'virtio' is supported for input model '{model}'",
                  "write bus='virtio'")
    if bus == "ps2" and guest.dom.arch not in X86 and \
            (finding := _capability(guest, dev, "input", "ps2")):
        return finding
    if bus == "usb" and kind == "keyboard" and \
            (finding := _capability(guest, dev, "input", "usb-keyboard")):
        return finding
    if bus != "virtio":
        return None
    if model in ("virtio-transitional", "virtio-non-transitional"):
        return on(dev, "input", "virtio (non-)transitional models are not supported for input "
                  f"type={kind}", "write model='virtio' or leave it out")
    if kind in ("mouse", "tablet", "keyboard", "passthrough"):
        return _capability(guest, dev, "input", f"virtio-{kind}")
    return None


def check_sound(guest: Guest) -> Iterator[Finding]:
    """qemuValidateDomainDeviceDefSound: ich7 is no QEMU model."""
    for sound in _each(guest, "sound"):
        if sound.model == "ich7":
            yield on(sound, "sound", "sound card model 'ich7' is not supported by qemu",
                     "use ich6 or ich9")


def check_balloon_vsock_nvram(guest: Guest) -> Iterator[Finding]:
    """qemuValidateDomainDeviceDefMemballoon, virDomainVsockDefValidate and
    qemuValidateDomainDeviceDefNVRAM."""
    for balloon in _each(guest, "memballoon"):
        model = balloon.model
        if model is not None and model not in ("virtio", "virtio-transitional",
                                               "virtio-non-transitional", "none"):
            yield on(balloon, "memballoon", f"Memory balloon device type '{model}' is not "
                     "supported by this version of qemu", "use model='virtio' or 'none'")
    for vsock in _each(guest, "vsock"):
        cid = vsock.child("cid")
        address = field_value(cid, VSOCK_CID)
        if address is not None and 0 < address <= 2:
            yield on(vsock, "vsock", "guest CIDs must be >= 3", "use a CID of 3 or more, or "
                     "auto='yes'", el=cid)
    for nvram in _each(guest, "nvram"):
        if not is_pseries(guest):
            yield on(nvram, "nvram", "nvram device is only supported for PPC64",
                     "remove the <nvram> device")


# ---- character devices -----------------------------------------------------------------------


def serial_target(guest: Guest, serial: Device) -> tuple[str | None, str | None]:
    """(target type, target model) as qemuDomainChrDefPostParse completes them (the rule is
    policy.machines': serial_target, serial_model)."""
    return serial_target_of(guest, *_written_target(serial.child("target")))


def _written_target(target: Element | None) -> tuple[str | None, str | None]:
    """A serial port's written target type and ``<model name>``, each None when absent."""
    if target is None:
        return None, None
    model_el = target.find("model")
    return target.get("type"), model_el.get("name") if model_el is not None else None


def serial_target_of(guest: Guest, written: str | None, model: str | None
                     ) -> tuple[str | None, str | None]:
    """:func:`serial_target` of a port with this written target type and model name."""
    kind = machines.serial_target(guest.family, guest.dom.arch, written)
    return kind, model if model is not None else machines.serial_model(guest.family, kind)


# the target type each serial target model needs (qemuValidateChrSerialTargetModelToTargetType)
MODEL_TARGET = {"isa-serial": "isa-serial", "usb-serial": "usb-serial",
                "pci-serial": "pci-serial", "spapr-vty": "spapr-vio-serial",
                "pl011": "system-serial", "16550a": "system-serial",
                "sclpconsole": "sclp-serial", "sclplmconsole": "sclp-serial",
                "isa-debugcon": "isa-debug"}


MAX_ISA_SERIAL_PORTS = 4  # VIR_MAX_ISA_SERIAL_PORTS


def check_isa_serial_ports(guest: Guest) -> Iterator[Finding]:
    """virDomainChrIsaSerialDefPostParse: at most four ISA serial ports, each target port once.
    It runs before the QEMU driver fills in the default target type, so it counts only the
    ports written with ``<target type='isa-serial'>``."""
    count, used = 0, dict[int, Device]()
    for serial in _each(guest, "serial"):
        if serial.target("type") != "isa-serial":
            continue
        count += 1
        target = serial.child("target")
        text = target.get("port") if target is not None else None
        port = read(text, "i", 10) if text is not None else None  # virXMLPropInt
        if count > MAX_ISA_SERIAL_PORTS or (port is not None and port >= MAX_ISA_SERIAL_PORTS):
            yield on(serial, "serial-port", "Maximum supported number of ISA serial ports is "
                     f"'{MAX_ISA_SERIAL_PORTS}'", "ISA serial ports are 0 to 3", el=target)
            return
        if port is not None and port >= 0:
            if port in used:
                yield on(serial, "serial-port", f"target port '{port}' already allocated",
                         f"{used[port].name()} on line {used[port].line} has it; leave port= "
                         "out, or give another", el=target)
                return
            used[port] = serial


def check_serials(guest: Guest) -> Iterator[Finding]:
    """qemuValidateDomainChrTargetDef (model against type) and qemuValidateDomainChrDef
    (types and models foreign to the machine), and virDomainChrDefPostParse (isa-debug).
    What is wrong with a port follows from its written target type and model name alone:
    each pair is judged once (half a million ports are a handful of pairs)."""
    judged: dict[tuple[str | None, str | None], tuple[str, str] | None] = {}
    for serial in _each(guest, "serial"):
        target = serial.child("target")
        written = _written_target(target)
        verdict = judged.get(written, _UNJUDGED)
        if verdict is _UNJUDGED:
            verdict = judged[written] = _serial_verdict(guest, *serial_target_of(guest, *written))
        if verdict is not None:
            yield on(serial, "serial-target", *verdict, el=target)
    if guest.dom.arch in S390 or is_pseries(guest):
        for port in _each(guest, "parallel"):
            yield on(port, "serial-target", "parallel ports are not supported",
                     "this machine has no parallel port; remove it")


_UNJUDGED = ("", "")  # a sentinel: no verdict looked up yet


def _serial_verdict(guest: Guest, kind: str | None, model: str | None
                    ) -> tuple[str, str] | None:
    """(message, hint) for a serial port of this target type and model on this guest, or
    None when libvirt takes it."""
    if kind == "isa-debug" and guest.dom.arch not in X86:
        return ("isa-debug serial type only valid on x86 architecture",
                "use the machine's serial target type")
    if model in MODEL_TARGET and MODEL_TARGET[model] != kind:
        return (f"Target model '{model}' requires target type '{MODEL_TARGET[model]}'",
                "change the target type or the model")
    foreign = (
        (kind == "system-serial" and model == "pl011" and not is_arm_virt(guest))
        or (kind == "system-serial" and model == "16550a" and not (
            guest.family is not None and guest.family.name == "riscv-virt"))
        or (not is_pseries(guest) and (kind == "spapr-vio-serial" or model == "spapr-vty"))
        or (guest.dom.arch not in S390 and (kind == "sclp-serial" or model in (
            "sclpconsole", "sclplmconsole"))))
    if foreign:
        return (f"Serial device with target type '{kind}' and target model '{model}' not "
                "compatible with guest architecture or machine type",
                "leave the target type out: libvirt picks the machine's own")
    return None


CONSOLE_TARGETS = ("serial", "virtio", "sclp", "sclplm")


def check_consoles(guest: Guest) -> Iterator[Finding]:
    """qemuValidateDomainDefConsole: the console target types QEMU has."""
    for console in _each(guest, "console"):
        kind = console.target("type")
        if kind is None:
            continue
        if kind not in CONSOLE_TARGETS:
            yield on(console, "console-target", f"unsupported console target type {kind}",
                     "use serial or virtio", el=console.child("target"))
        elif kind in ("sclp", "sclplm") and (finding := _capability(
                guest, console, "console", kind, console.child("target"))):
            yield finding


def _chr_sources(guest: Guest) -> Iterator[tuple[Device, Element, str | None]]:
    """(device, element holding <source>, chardev type) for every character device source
    libvirt validates."""
    for tag in ("serial", "parallel", "console", "channel", "redirdev"):
        for dev in _each(guest, tag):
            yield dev, dev.el, dev.type
    for card in _each(guest, "smartcard"):
        if card.el.get("mode") == "passthrough":
            yield card, card.el, card.type
    for rng in _each(guest, "rng"):
        backend = rng.child("backend")
        if backend is not None and backend.get("model") == "egd":
            yield rng, backend, backend.get("type")


def check_chr_sources(guest: Guest) -> Iterator[Finding]:
    """virDomainChrSourceDefValidate and qemuValidateDomainChrSourceDef."""
    spice = any(g.get("type") == "spice" for g in guest.dom.root.findall("devices/graphics"))
    # the types that need nothing of a device without a <source>: the rules of such a
    # device read only its type, but for a udp one's and a unix one's (see _chr_source)
    sourceless_ok: dict[str | None, bool] = {}
    for dev, holder, kind in _chr_sources(guest):
        # a fifth of findall's time, per device; none at all for an element without children
        sources = list(holder.iterchildren("source")) if len(holder) else []
        if not sources and kind != "udp" and kind != "unix":
            ok = sourceless_ok.get(kind)
            if ok is None:
                ok = sourceless_ok[kind] = _chr_source(dev, holder, kind, None, spice) is None
            if ok:
                continue  # half a million <serial type='pty'/>: judged once
        if len(sources) > 1 and kind != "udp":
            yield on(dev, "chardev", "only one source element is allowed for character device",
                     "keep one <source>", el=sources[1])
            continue
        finding = _chr_source(dev, holder, kind, sources[0] if sources else None, spice)
        if finding is not None:
            yield finding


# the QEMU driver's channel_target_dir (qemu.conf's default)
CHANNEL_TARGET_DIR = "/var/lib/libvirt/qemu/channel/target"


def _default_channel_path(dev: Device, path: str) -> bool:
    """A virtio channel's socket path of the form libvirt generates, which it drops from an
    inactive definition. libvirt's pattern, ``^DIR/([^/]+\\.)|(domain-[^/]+/)NAME$``, has an
    alternation that binds loosely: either alternative alone matches."""
    name = dev.target("name")
    if dev.tag != "channel" or dev.target("type") != "virtio" or not name:
        return False
    first = re.match(re.escape(CHANNEL_TARGET_DIR) + r"/([^/]+\.)", path)
    second = re.search(r"(domain-[^/]+/)" + re.escape(name) + "$", path)
    return first is not None or second is not None


def _chr_source(dev: Device, holder: Element, kind: str | None, source: Element | None,
                spice: bool) -> Finding | None:
    get = source.get if source is not None else (lambda _k, _d=None: None)
    at_el = source if source is not None else holder
    if kind in ("file", "dev", "pipe") and not get("path"):
        return on(dev, "chardev", "Missing source path attribute for char device",
                  "add <source path='...'/>", el=at_el)
    if kind == "tcp":
        if not get("host"):
            return on(dev, "chardev", "Missing source host attribute for char device",
                      "add host='...' to <source>", el=at_el)
        if not get("service"):
            return on(dev, "chardev", "Missing source service attribute for char device",
                      "add service='PORT' to <source>", el=at_el)
    if kind == "udp":
        connect = [s for s in holder.findall("source") if s.get("mode", "connect") == "connect"]
        if not connect or not connect[0].get("service"):
            return on(dev, "chardev", "Missing source service attribute for char device",
                      "add <source mode='connect' service='PORT'/>", el=at_el)
    path = get("path")
    if kind == "unix" and path and _default_channel_path(dev, path):
        path = None  # qemuDomainChrDefDropDefaultPath: libvirt generates it again, listening
    if kind == "unix":
        exempt = dev.tag == "channel" and dev.target("type") in ("virtio", "xen")
        if not path and not exempt:
            return on(dev, "chardev", "Missing source path attribute for char device",
                      "add path='...' to <source>", el=at_el)
    reconnect = source.find("reconnect") if source is not None else None
    if kind in ("tcp", "unix") and reconnect is not None:
        listen = get("mode") == "bind" or (kind == "unix" and not path)
        if listen and reconnect.get("enabled") is not None:
            return on(dev, "chardev", "chardev reconnect is possible only for connect mode",
                      "remove <reconnect>, or use mode='connect'", el=reconnect)
        timeout = reconnect.get("timeout")
        if reconnect.get("enabled") == "yes" and timeout is not None and \
                field_value(reconnect, RECONNECT_TIMEOUT) == 0:
            return on(dev, "chardev", "chardev reconnect source timeout cannot be '0'",
                      "give a timeout of 1 second or more", el=reconnect)
    if kind in ("spicevmc", "spiceport") and not spice:
        return on(dev, "chardev", f"chardev '{kind}' not supported without spice graphics",
                  "add <graphics type='spice'/>, or use another type")
    return None


# ---- network interfaces ----------------------------------------------------------------------


def check_interfaces(guest: Guest) -> Iterator[Finding]:
    """virDomainNetDefParseXML (MAC, model name), virDomainNetDefValidate and
    qemuValidateDomainDeviceDefNetwork."""
    for nic in _each(guest, "interface"):
        finding = _interface(nic)
        if finding is not None:
            yield finding


def _interface(nic: Device) -> Finding | None:
    mac = nic.child("mac")
    address = mac.get("address") if mac is not None else None
    if address is not None:
        m = MAC.match(address)
        if m is None:
            return on(nic, "interface", f"unable to parse mac address '{address}'",
                      "write six hex bytes: 52:54:00:12:34:56", el=mac)
        if int(m.group(1), 16) & 1:
            return on(nic, "interface", f"expected unicast mac address, found multicast "
                      f"'{address}'", "the first byte must be even (52:54:00:... is QEMU's)",
                      el=mac)
    model_el = nic.child("model")
    model = model_el.get("type") if model_el is not None else None
    if model is not None and not NET_MODEL_CHARS.match(model):
        return on(nic, "interface", "Model name contains invalid characters",
                  "use letters, digits, '-' and '_'", el=model_el)
    virtio = (model or "").lower() in VIRTIO_MODELS
    kind = nic.type
    if kind == "vhostuser" and not virtio:
        return on(nic, "interface", "Wrong or no <model> 'type' attribute specified with "
                  "<interface type='vhostuser'/>. vhostuser requires the virtio-net* frontend",
                  "write <model type='virtio'/>", el=model_el)
    backend = nic.child("backend")
    if kind != "user" and backend is not None and backend.get("type") == "passt":
        return on(nic, "interface", "The 'passt' backend can only be used with interface "
                  "type='user'", "use type='user'", el=backend)
    if kind == "vdpa" and not virtio:
        return on(nic, "interface", f"invalid model for interface of type 'vdpa': "
                  f"'{model}'", "write <model type='virtio'/>", el=model_el)
    driver = nic.child("driver")
    if virtio and driver is not None:
        for attr in ("rx_queue_size", "tx_queue_size"):
            size = field_value(driver, NET_DRIVER_FIELDS[attr])
            if size and size & (size - 1):
                return on(nic, "interface", f"{attr} has to be a power of two",
                          f"use 256, 512 or 1024 for {attr}", el=driver)
    mtu = nic.child("mtu")
    passt = backend is not None and backend.get("type") == "passt"
    if mtu is not None and mtu.get("size") is not None and not (
            kind in ("network", "bridge", "ethernet", "vhostuser") or (kind == "user" and
                                                                     passt)):
        return on(nic, "interface", f"setting MTU on interface type {kind} is not supported "
                  "yet", "remove <mtu>", el=mtu)
    coalesce = nic.child("coalesce")
    if coalesce is not None and kind not in ("network", "bridge"):
        return on(nic, "interface", f"coalesce settings on interface type {kind} are not "
                  "supported", "remove <coalesce>", el=coalesce)
    return None


# ---- graphics, shared memory, filesystems, host devices, RNG ---------------------------------


def check_graphics(guest: Guest) -> Iterator[Finding]:
    """virDomainGraphicsListenDefParseXML, qemuValidateDomainDeviceDefGraphics and
    qemuValidateDomainDeviceDefVNCGraphics."""
    graphics = guest.dom.root.findall("devices/graphics")
    egl = any(g.get("type") == "egl-headless" for g in graphics)
    for g in graphics:
        kind = g.get("type")
        listens = g.findall("listen")
        first = listens[0] if listens else None
        if first is not None and first.get("type") == "address" and g.get("listen") and \
                first.get("address") and first.get("address") != g.get("listen"):
            yield at(first, "graphics", f"graphics 'listen' attribute '{g.get('listen')}' must "
                     "match 'address' attribute of first listen element (found "
                     f"'{first.get('address')}')", "write the same address in both")
            continue
        for listen in listens:
            if listen.get("type") == "network" and not listen.get("network"):
                yield at(listen, "graphics", "'network' attribute is required for listen type "
                         "'network'", "name the libvirt network")
        if egl and kind not in ("egl-headless", "vnc", "spice"):
            yield at(g, "graphics", "graphics type 'egl-headless' is only supported with one "
                     "of: 'vnc', 'spice' graphics types", "pair egl-headless with vnc or spice")
        gl = g.find("gl")
        if egl and kind == "spice" and gl is not None and gl.get("enable") == "yes":
            yield at(gl, "graphics", "multiple OpenGL displays are not supported by QEMU",
                     "use spice gl or egl-headless, not both")
        passwd = g.get("passwd")
        if kind == "vnc" and passwd is not None and len(passwd) > 8:
            yield at(g, "graphics", f"VNC password is {len(passwd)} characters long, only 8 "
                     "permitted", "VNC passwords have at most 8 characters")


def check_shmem(guest: Guest) -> Iterator[Finding]:
    """virDomainShmemDefParseXML and virDomainShmemDefValidate."""
    for shmem in _each(guest, "shmem"):
        name = shmem.el.get("name") or ""
        if shmem.child("msi") is not None and shmem.child("server") is None:
            yield on(shmem, "shmem", "msi option is only supported with a server",
                     "add a <server>, or remove <msi>", el=shmem.child("msi"))
        elif "/" in name:
            yield on(shmem, "shmem", "shmem name cannot include '/' character",
                     "use a plain name")
        elif name in (".", ".."):
            yield on(shmem, "shmem", f"shmem name cannot be equal to '{name}'",
                     "use a plain name")


# ---- the parts a device must have --------------------------------------------------------

# interface types whose <source> libvirt's parser requires (virDomainNetDefParseXMLRequireSource)
NET_SOURCE_REQUIRED = frozenset({"network", "vds", "internal", "bridge", "direct", "vhostuser",
                                 "vdpa", "client", "server", "mcast", "udp"})
# the attribute of <source> a filesystem's path is read from, by type (virDomainFSDefParseXML)
FS_SOURCE = {"mount": "dir", "bind": "dir", "file": "file", "block": "dev", "template": "name"}


def check_required_parts(guest: Guest) -> Iterator[Finding]:
    """The child elements libvirt cannot do without: an interface's <source>
    (virDomainNetDefParseXMLRequireSource), a channel's <target>
    (virDomainChrDefaultTargetType), a filesystem's source and target (virDomainFSDefParseXML,
    virDomainFSDefValidate). An interface with no type is a user one to libvirt: its
    <source> goes."""
    for nic in _each(guest, "interface"):
        kind = nic.el.get("type")
        if kind in NET_SOURCE_REQUIRED and nic.child("source") is None:
            yield on(nic, "missing-element", f"interface type='{kind}' requires a 'source' "
                     "element", f"write the <source> of a {kind} interface")
        elif kind is None and nic.child("source") is not None:
            yield on(nic, "missing-element", "libvirt 9.0 reads an <interface> without a type "
                     "as type='user' and drops its <source> when it defines the domain",
                     "write the interface's type", severity="warning")
    for chan in _each(guest, "channel"):
        target = chan.child("target")
        if target is None:
            yield on(chan, "missing-element", "target type must be specified for channel "
                     "device", "write <target type='virtio' name='...'/>")
        elif target.get("type") is None:  # virDomainChrDefParseTargetXML's words win
            yield on(chan, "missing-element", "unknown target type '(null)' specified for "
                     "character device", "write <target type='virtio' ...>", el=target)
        elif chan.type == "spicevmc" and target.get("type") != "virtio":
            yield on(chan, "channel-target", "spicevmc device type only supports virtio",
                     "write <target type='virtio' name='com.redhat.spice.0'/>", el=target)
    for ctrl in _each(guest, "controller"):
        if len(ctrl.el) < 2:
            continue  # no room for two of a kind (most controllers: nothing to look for)
        for tag in ("model", "target"):  # virDomainControllerDefParseXML
            extra = ctrl.el.findall(tag)[1:2]
            if extra:
                yield on(ctrl, "controller-children", f"Multiple <{tag}> elements in controller "
                         "definition not allowed", f"keep one <{tag}>", el=extra[0])
    for fs in _each(guest, "filesystem"):
        finding = _filesystem_parts(fs)
        if finding is not None:
            yield finding
    for host in _each(guest, "hostdev"):  # virDomainHostdevSubsysMediatedDevDefParseXML
        if host.type == "mdev" and host.el.get("mode") in (None, "subsystem"):
            address = host.el.find("source/address")
            if address is None:
                yield on(host, "missing-element", "Missing <address> element",
                         "write <source><address uuid='...'/></source>")
            elif address.get("uuid") is None:
                yield on(host, "missing-element", "Missing 'uuid' attribute for element "
                         "<address>", "write the mediated device's uuid", el=address)
    for mem in _each(guest, "memory"):  # virDomainMemoryTargetDefParseXML
        target = mem.child("target")
        if target is not None and target.find("size") is None:
            yield on(mem, "missing-element", "missing element or attribute './size'",
                     "write <size unit='MiB'>...</size> in <target>", el=target)


def _filesystem_parts(fs: Device) -> Finding | None:
    kind = fs.type or "mount"
    source, target = fs.child("source"), fs.child("target")
    socket = source.get("socket") if source is not None else None
    attr = FS_SOURCE.get(kind)
    path = source.get(attr) if source is not None and attr is not None else None
    dst = (target.get("dir") or None) if target is not None else None  # XPath: "" is none
    if path is None and socket is None and kind not in ("ram", "volume"):
        return on(fs, "missing-element", "missing source information for device"
                  + (f" {dst}" if dst else ""), f"write <source {attr or 'dir'}='...'/>")
    if dst is None:
        named = path or socket
        return on(fs, "missing-element", "missing target information for device"
                  + (f" {named}" if named else ""), "write <target dir='...'/>")
    return None


# ---- options libvirt reads and then drops -----------------------------------------------

# what virDomainNetDefParseXMLDriver reads of a NIC's <driver> only for a virtio model
NET_VIRTIO_DRIVER = ("name", "txmode", "ioeventfd", "event_idx", "queues", "rx_queue_size",
                     "tx_queue_size", "rss", "rss_hash_report")


def check_dropped_options(guest: Guest) -> Iterator[Finding]:
    """Options libvirt accepts and drops: the virtio options of a NIC that is not virtio
    (virDomainNetDefParseXMLDriver), a balloon's statistics period below 1
    (virDomainMemballoonDefParseXML), a controller's queues='0' (libvirt keeps no 0)."""
    for nic in _each(guest, "interface"):
        driver = nic.child("driver")
        if driver is None or (nic.type != "hostdev" and nic.model in VIRTIO_MODELS):
            continue
        lost = [f"{a}=" for a in NET_VIRTIO_DRIVER if driver.get(a) is not None]
        lost += [f"<{c.tag}>" for c in driver if c.tag in ("host", "guest")]
        if lost:
            yield on(nic, "option-dropped", f"libvirt 9.0 reads {', '.join(lost)} of <driver> "
                     "only on a virtio interface: it drops them when it defines the domain",
                     "use model type='virtio', or remove them", severity="warning", el=driver)
    for balloon in _each(guest, "memballoon"):
        stats = balloon.child("stats")
        period = field_value(stats, BALLOON_PERIOD)
        if period is not None and period <= 0:
            yield on(balloon, "option-dropped", f"libvirt 9.0 reads a statistics period of "
                     f"{period} as none: it drops <stats> when it defines the domain",
                     "give a period of 1 second or more", severity="warning", el=stats)
    for ctrl in _each(guest, "controller"):
        driver = ctrl.child("driver")
        if field_value(driver, CONTROLLER_QUEUES) == 0:
            yield on(ctrl, "option-dropped", "libvirt 9.0 keeps no queues='0': it drops it "
                     "when it defines the domain", "remove queues=, or give 1 or more",
                     severity="warning", el=driver)


def check_filesystems(guest: Guest) -> Iterator[Finding]:
    """qemuValidateDomainDeviceDefFS."""
    for fs in _each(guest, "filesystem"):
        finding = _filesystem(fs)
        if finding is not None:
            yield finding


def _filesystem(fs: Device) -> Finding | None:
    kind = fs.type or "mount"
    driver = fs.child("driver")
    fsdriver = driver.get("type") if driver is not None else None
    access = fs.el.get("accessmode") or "passthrough"
    if kind != "mount":
        return on(fs, "filesystem", "only supports mount filesystem type",
                  "use type='mount'")
    if (fs.el.get("fmode") or fs.el.get("dmode")) and access != "mapped":
        return on(fs, "filesystem", "fmode and dmode must be used with accessmode=mapped",
                  "write accessmode='mapped'")
    if fsdriver in ("loop", "nbd", "ploop"):
        return on(fs, "filesystem", "Filesystem driver type not supported",
                  "use the path or virtiofs driver", el=driver)
    if fsdriver == "handle" and access != "passthrough":
        return on(fs, "filesystem", "only supports passthrough accessmode",
                  "write accessmode='passthrough'", el=driver)
    if fsdriver == "virtiofs":
        source = fs.child("source")
        external = source is not None and source.get("socket") is not None
        if fs.child("readonly") is not None and not external:
            return on(fs, "filesystem", "virtiofs does not yet support read-only mode",
                      "remove <readonly/>", el=fs.child("readonly"))
        if access != "passthrough":
            return on(fs, "filesystem", "virtiofs only supports passthrough accessmode",
                      "write accessmode='passthrough'")
    return None


def check_hostdevs(guest: Guest) -> Iterator[Finding]:
    """virDomainHostdevDefParseXMLSubsys (a <source>) and
    qemuValidateDomainDeviceDefHostdev (no capabilities mode)."""
    for host in _each(guest, "hostdev"):
        mode = host.el.get("mode") or "subsystem"
        if mode == "capabilities":
            virt = guest.dom.root.get("type") or "qemu"
            yield on(host, "hostdev", f"hostdev mode 'capabilities' is not supported in {virt}",
                     "use mode='subsystem'")
        elif host.type in ("pci", "usb", "scsi", "scsi_host", "mdev") and \
                host.child("source") is None:
            yield on(host, "hostdev", "Missing <source> element in hostdev device",
                     "say which host device with <source>")


def check_rngs(guest: Guest) -> Iterator[Finding]:
    """virDomainRNGDefParseXML: one backend."""
    for rng in _each(guest, "rng"):
        backends = rng.el.findall("backend")
        if len(backends) != 1:  # none is refused in the same words
            yield on(rng, "rng", "only one RNG backend is supported",
                     "write one <backend>" if not backends else "keep one <backend>",
                     el=backends[1] if backends else None)


CHECKS = (check_address_kinds, check_replaced_addresses, check_tpms, check_watchdogs,
          check_panics, check_iommu, check_videos, check_inputs, check_sound,
          check_balloon_vsock_nvram, check_isa_serial_ports, check_serials, check_consoles,
          check_required_parts, check_chr_sources, check_interfaces, check_graphics,
          check_shmem, check_filesystems, check_hostdevs, check_rngs, check_dropped_options)
