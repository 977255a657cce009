"""Define-time rules about the platform: firmware, loader and NVRAM, boot order, lifecycle
actions, machine features, timers, the guest CPU's cache and address bits, security labels and
SMBIOS.

Each rule cites the libvirt 9.0 function that makes it: ``virDomainDefOSValidate``,
``qemuValidateDomainDefBoot``, ``qemuValidateDomainDef`` (UEFI and ACPI),
``virDomainDefBootOrderPostParse``, ``qemuValidateLifecycleAction``,
``virDomainDefLifecycleActionAllowed``, ``qemuValidateDomainDefFeatures``,
``qemuValidateDomainDefClockTimers``, ``qemuValidateDomainDefCpu``, ``virCPUDefParseXML``,
``qemuDomainDefCPUPostParse``, ``qemuDomainDefTsegPostParse``,
``virSecurityLabelDefsParseXML`` and ``virSysinfoBIOSParseXML``. None depends on the host.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..model.domain import Device
from ..model.numbers import read
from ..model.scaled import element_kib, kib
from ..model.values import BIOS_REBOOT_TIMEOUT, BOOT_MENU_TIMEOUT, BOOT_ORDER, field_value
from ..placement.guest import Guest
from ..policy.machines import PPC64, X86
from ..xml.document import Element
from .findings import Finding
from .located import at, on

# devices whose <boot order> libvirt reads (those it parses with VIR_DOMAIN_DEF_PARSE_ALLOW_BOOT)
BOOTABLE = ("disk", "filesystem", "interface", "hostdev", "redirdev")
# lifecycle element -> libvirt's event name
LIFECYCLE = {"on_poweroff": "poweroff", "on_reboot": "reboot", "on_crash": "crash"}
LOADPARM_CHARS = re.compile(r"[A-Z0-9. ]*$")
# features only pSeries has (qemuValidateDomainDefPSeriesFeature)
PSERIES_FEATURES = ("hpt", "htm", "nested-hv", "ccf-assist", "cfpc", "sbbc", "ibs")
# timers libvirt lets only x86 switch on (qemuValidateDomainDefClockTimers)
X86_TIMERS = ("tsc", "kvmclock", "hypervclock")


def _family(guest: Guest) -> str | None:
    return guest.family.name if guest.family is not None else None


def is_q35(guest: Guest) -> bool:
    return _family(guest) == "q35"


def is_pseries(guest: Guest) -> bool:
    return _family(guest) == "pseries"


def is_arm_virt(guest: Guest) -> bool:
    return _family(guest) == "arm-virt"


def _feature(guest: Guest, name: str) -> Element | None:
    return guest.dom.root.find(f"features/{name}")


def _switch(el: Element | None, attr: str = "state") -> str | None:
    """A feature's state as libvirt keeps it: None when absent, its value, or "on" for an
    element written without the attribute."""
    if el is None:
        return None
    value: str = el.get(attr) or "on"
    return value


# ---- firmware, loader, NVRAM -----------------------------------------------------------------


def check_firmware(guest: Guest) -> Iterator[Finding]:
    """virDomainDefPostParseOs, virDomainDefOSValidate and qemuValidateDomainDefBoot."""
    os_el = guest.dom.root.find("os")
    if os_el is None:
        return
    firmware = os_el.get("firmware")
    loader, nvram = os_el.find("loader"), os_el.find("nvram")
    features = {f.get("name"): f.get("enabled") for f in os_el.findall("firmware/feature")}
    if features.get("enrolled-keys") == "yes" and features.get("secure-boot") == "no":
        yield at(os_el.find("firmware"), "firmware", "firmware feature 'enrolled-keys' cannot be "
                 "enabled when firmware feature 'secure-boot' is disabled",
                 "enable secure-boot, or disable enrolled-keys")
        return
    yield from _secure_boot(guest, firmware, loader)
    has_nvram = nvram is not None and (nvram.get("type") is not None or bool(nvram.text))
    if firmware:
        for attr, what in (("readonly", "loader attribute 'readonly'"),
                           ("type", "loader attribute 'type'")):
            if loader is not None and loader.get(attr) is not None:
                yield at(loader, "firmware", f"{what} cannot be specified when firmware "
                         "autoselection is enabled", f"remove {attr}=, or the firmware= of <os>")
                return
        if loader is not None and loader.text:
            # libvirt's post-parse gives a loader with a path type 'rom' first
            yield at(loader, "firmware", "loader attribute 'type' cannot be specified when "
                     "firmware autoselection is enabled",
                     "remove the loader path, or the firmware= of <os>")
            return
        if nvram is not None and nvram.get("template") is not None:
            yield at(nvram, "firmware", "nvram attribute 'template' cannot be specified when "
                     "firmware autoselection is enabled", "remove template=")
            return
        if loader is not None and loader.get("secure") == "no":
            yield at(loader, "firmware", "loader attribute 'secure' cannot be specified when "
                     "firmware autoselection is enabled",
                     "ask for it with <firmware><feature name='secure-boot' enabled='no'/>")
            return
        if has_nvram and firmware != "efi":
            yield at(nvram, "firmware", f"firmware type '{firmware}' does not support nvram",
                     "remove <nvram>, or use firmware='efi'")
            return
    else:
        if os_el.find("firmware/feature") is not None:
            yield at(os_el.find("firmware"), "firmware", "cannot use feature-based firmware "
                     "autoselection when firmware autoselection is disabled",
                     "add firmware='efi' to <os>")
            return
        if (loader is not None or nvram is not None) and (loader is None or not loader.text):
            yield at(loader if loader is not None else nvram, "firmware", "no loader path "
                     "specified and firmware auto selection disabled",
                     "write the firmware's path in <loader>, or firmware='efi' in <os>")
            return
    if loader is None:
        return
    stateless = loader.get("stateless")
    if stateless == "yes":
        if nvram is not None and nvram.get("template") is not None:
            yield at(nvram, "firmware", "NVRAM template is not permitted when loader is "
                     "stateless", "remove the template, or stateless='yes'")
        elif has_nvram:
            yield at(nvram, "firmware", "NVRAM is not permitted when loader is stateless",
                     "remove <nvram>, or stateless='yes'")
    elif stateless == "no":
        if not firmware and _loader_type(loader) != "pflash":
            yield at(loader, "firmware", "Only pflash loader type permits NVRAM",
                     "write type='pflash'")
        elif firmware and firmware != "efi":
            yield at(loader, "firmware", "Only EFI firmware permits NVRAM",
                     "use firmware='efi', or remove stateless='no'")


def _loader_type(loader: Element) -> str | None:
    written: str | None = loader.get("type")
    return written or ("rom" if loader.text else None)


def _secure_boot(guest: Guest, firmware: str | None,
                 loader: Element | None) -> Iterator[Finding]:
    """qemuValidateDomainDefBoot: QEMU's limits on secure boot."""
    if loader is None or loader.get("secure") != "yes":
        return
    if not is_q35(guest):
        yield at(loader, "secure-boot", "Secure boot is supported with q35 machine types only",
                 "use a q35 machine type, or remove secure='yes'")
    elif guest.dom.arch != "x86_64":
        yield at(loader, "secure-boot", "Secure boot is supported for x86_64 architecture only",
                 "use an x86_64 guest, or remove secure='yes'")
    elif not firmware and _switch(_feature(guest, "smm")) != "on":
        yield at(loader, "secure-boot", "Secure boot requires SMM feature enabled",
                 "add <smm state='on'/> to <features>")


def check_uefi_acpi(guest: Guest) -> Iterator[Finding]:
    """qemuValidateDomainDef: UEFI needs ACPI on x86, and ACPI needs UEFI on aarch64."""
    os_el = guest.dom.root.find("os")
    if os_el is None:
        return
    loader = os_el.find("loader")
    uefi = os_el.get("firmware") == "efi" or (loader is not None and
                                              loader.get("type") == "pflash")
    acpi = _feature(guest, "acpi") is not None
    if uefi and guest.dom.arch in X86 and not acpi:
        yield at(loader if loader is not None else os_el, "uefi-acpi", "UEFI requires ACPI on "
                 "this architecture", "add <acpi/> to <features>")
    elif acpi and guest.dom.arch == "aarch64" and not uefi:
        yield at(_feature(guest, "acpi"), "uefi-acpi", "ACPI requires UEFI on this "
                 "architecture", "add firmware='efi' to <os>, or remove <acpi/>")


# ---- boot ------------------------------------------------------------------------------------


def check_boot(guest: Guest) -> Iterator[Finding]:
    """virDomainDeviceBootParseXML (loadparm), virDomainDefBootOrderPostParse (each order
    once, not together with <os><boot>), virDomainDefBootValidate and the devices that cannot
    boot."""
    orders: dict[str, Device] = {}
    first: tuple[Device, Element] | None = None
    booting = _booting(guest)
    for dev, boot in booting:
        if dev.implicit:
            continue
        loadparm = boot.get("loadparm")
        if loadparm is not None:
            upper = loadparm.upper()
            if not 1 <= len(upper) <= 8:
                yield on(dev, "boot-order", f"loadparm value '{upper}' must be between 1 and 8 "
                         "characters", "write 1 to 8 characters", el=boot)
            elif not LOADPARM_CHARS.match(upper):
                yield on(dev, "boot-order", f"invalid loadparm value '{upper}', expecting chars "
                         "in set of [a-zA-Z0-9.] and blank spaces",
                         "use letters, digits, dots and blanks", el=boot)
        order = field_value(boot, BOOT_ORDER)
        if not order:
            continue  # none, or a value problem
        key = str(order)
        if key in orders:
            yield on(dev, "boot-order", f"boot order '{key}' used for more than one device",
                     f"{orders[key].name()} (line {orders[key].line}) boots {key}th; give "
                     "each device its own order", el=boot)
        orders.setdefault(key, dev)
        first = first or (dev, boot)
    os_boot = guest.dom.root.findall("os/boot")
    if first is not None and os_boot:
        dev, boot = first
        yield at(os_boot[0], "boot-order", "per-device boot elements cannot be used together "
                 "with os/boot elements", f"remove the <boot dev=...> of <os>, or the <boot "
                 f"order=...> of {dev.name()} (line {boot.sourceline})")
    yield from _boot_menu(guest)
    yield from _unbootable(booting)


def _booting(guest: Guest) -> list[tuple[Device, Element]]:
    """Each device with a ``<boot>``, and it, in libvirt's iteration order: found once for
    both of :func:`check_boot`'s walks (half a million serial ports cannot boot)."""
    return [(dev, boot) for dev in guest.dom.iterate()
            if dev.tag in BOOTABLE and (boot := dev.child("boot")) is not None]


def _boot_menu(guest: Guest) -> Iterator[Finding]:
    """virDomainDefBootValidate: boot menu timeout and BIOS reboot timeout ranges."""
    menu = guest.dom.root.find("os/bootmenu")
    timeout = field_value(menu, BOOT_MENU_TIMEOUT)
    if menu is not None and menu.get("enable") == "yes" and timeout is not None and \
            timeout > 65535:
        yield at(menu, "boot-menu", "invalid value for boot menu timeout, must be in range "
                 "[0,65535]", "the timeout is in milliseconds, at most 65535")
    bios = guest.dom.root.find("os/bios")
    delay = field_value(bios, BIOS_REBOOT_TIMEOUT)
    if delay is not None and not -1 <= delay <= 65535:
        yield at(bios, "boot-menu", "invalid value for rebootTimeout, must be in range "
                 "[-1,65535]", "-1 disables the reboot; at most 65535 ms")


def _unbootable(booting: list[tuple[Device, Element]]) -> Iterator[Finding]:
    """Devices that take a boot order libvirt then refuses: a filesystem that is not virtiofs
    (virDomainFSDefValidate), a vhost SCSI host device and mediated devices (qemu_validate)."""
    for dev, boot in booting:
        if dev.tag == "filesystem":
            driver = dev.child("driver")
            if driver is None or driver.get("type") != "virtiofs":
                yield on(dev, "boot-order", "boot order is only supported for virtiofs",
                         "remove its <boot>", el=boot)
        elif dev.tag == "hostdev" and dev.type == "scsi_host":
            yield on(dev, "boot-order", "booting from assigned devices is not supported by "
                     "vhost SCSI devices", "remove its <boot>", el=boot)
        elif dev.tag == "hostdev" and dev.type == "mdev":
            model = dev.el.get("model")
            if model in ("vfio-pci", "vfio-ap"):
                yield on(dev, "boot-order", "booting from assigned devices is not supported by "
                         f"mediated devices of model {model}", "remove its <boot>", el=boot)


# ---- lifecycle -------------------------------------------------------------------------------


def check_lifecycle(guest: Guest) -> Iterator[Finding]:
    """qemuValidateLifecycleAction, then virDomainDefLifecycleActionAllowed."""
    root = guest.dom.root
    els = {tag: root.find(tag) for tag in LIFECYCLE}
    action = {tag: (el.text or "").strip() if el is not None else None
              for tag, el in els.items()}
    renamed = [t for t in LIFECYCLE if action[t] == "rename-restart"]
    if renamed:
        yield at(els[renamed[0]], "lifecycle", "qemu driver doesn't support the "
                 "'rename-restart' action for 'on_reboot'/'on_poweroff'/'on_crash'",
                 "use restart or destroy")
        return
    preserved = [t for t in ("on_poweroff", "on_reboot") if action[t] == "preserve"]
    if preserved:
        yield at(els[preserved[0]], "lifecycle", "qemu driver doesn't support the 'preserve' "
                 "action for 'on_reboot'/'on_poweroff'", "use restart or destroy")
        return
    if action["on_poweroff"] == "restart" and action["on_reboot"] == "destroy":
        yield at(els["on_reboot"], "lifecycle", "qemu driver doesn't support 'onReboot' set to "
                 "'destroy and 'onPoweroff' set to 'reboot'", "change one of the two")
        return
    for tag in ("on_poweroff", "on_reboot"):
        if action[tag] in ("coredump-destroy", "coredump-restart"):
            yield at(els[tag], "lifecycle", f"Lifecycle event '{LIFECYCLE[tag]}' doesn't "
                     f"support '{action[tag]}' action", "coredump actions are for on_crash")
            return


# ---- features, timers, CPU -------------------------------------------------------------------


def _not_for(guest: Guest, feature: str) -> str:
    return (f"The '{feature}' feature is not supported for architecture '{guest.dom.arch}' "
            f"or machine type '{guest.machine}'")


def check_features(guest: Guest) -> Iterator[Finding]:
    """qemuValidateDomainDefFeatures: features that belong to an architecture or a machine."""
    arch, x86 = guest.dom.arch, guest.dom.arch in X86
    for name in PSERIES_FEATURES:
        el = _feature(guest, name)
        if el is None or is_pseries(guest):
            continue
        if name == "hpt" and el.get("resizing") is None and el.find("maxpagesize") is None:
            continue  # an empty <hpt/> sets nothing
        if name in ("cfpc", "sbbc", "ibs") and el.get("value") is None:
            continue
        yield at(el, "feature-arch", _not_for(guest, name), "a pSeries feature; remove it")
    gic = _feature(guest, "gic")
    if gic is not None and not is_arm_virt(guest):
        yield at(gic, "feature-arch", _not_for(guest, "gic"), "an ARM virt feature; remove it")
    ioapic = _feature(guest, "ioapic")
    if ioapic is not None and ioapic.get("driver") and not x86:
        yield at(ioapic, "feature-arch", _not_for(guest, "ioapic"), "an x86 feature; remove it")
    vmport = _feature(guest, "vmport")
    if vmport is not None and not (x86 and (_family(guest) in ("i440fx", "q35", "isapc"))):
        yield at(vmport, "feature-arch", "vmport is not available with this QEMU binary",
                 "vmport is for pc and q35 machines; remove it")
    apic = _feature(guest, "apic")
    if apic is not None and apic.get("eoi") is not None and not x86:
        yield at(apic, "feature-arch", f"The 'eoi' attribute of the 'apic' feature is not "
                 f"supported for architecture '{arch}' or machine type '{guest.machine}'",
                 "remove eoi=")
    spinlock = _feature(guest, "pvspinlock")
    if spinlock is not None and not x86:
        yield at(spinlock, "feature-arch", _not_for(guest, "pvspinlock"), "an x86 feature")
    hyperv = _feature(guest, "hyperv")
    if hyperv is not None and not x86 and not is_arm_virt(guest):
        yield at(hyperv, "feature-arch", f"Hyperv features are not supported for architecture "
                 f"'{arch}' or machine type '{guest.machine}'", "remove <hyperv>")
    pmu = _feature(guest, "pmu")
    if _switch(pmu) == "off" and arch in PPC64:
        yield at(pmu, "feature-arch", f"PMU is always enabled for architecture '{arch}'",
                 "remove <pmu state='off'/>")
    yield from _tseg(guest)


def _tseg(guest: Guest) -> Iterator[Finding]:
    """qemuDomainDefTsegPostParse: an SMM TSEG size only on q35, in whole MiB."""
    smm = _feature(guest, "smm")
    tseg = smm.find("tseg") if smm is not None else None
    if tseg is None or _switch(smm) != "on":
        return
    if not is_q35(guest):
        yield at(tseg, "feature-arch", "SMM TSEG is only supported with q35 machine type",
                 "remove <tseg>")
        return
    # the size's default unit is MiB (virParseScaledValue with a scale of 1 MiB)
    size = element_kib(tseg) if tseg.get("unit") else kib(tseg.text, None, 1024 * 1024)
    if size is not None and size % 1024:
        yield at(tseg, "feature-arch", "SMM TSEG size must be divisible by 1 MiB",
                 "give the size in whole MiB")


def check_timers(guest: Guest) -> Iterator[Finding]:
    """qemuValidateDomainDefClockTimers: timers the machine or QEMU does not have."""
    x86 = guest.dom.arch in X86
    virt_type = guest.dom.root.get("type") or "qemu"
    for timer in guest.dom.root.findall("clock/timer"):
        name, present = timer.get("name"), timer.get("present")
        policy, track = timer.get("tickpolicy"), timer.get("track")
        where = (f"for virtType={virt_type} arch={guest.dom.arch} machine={guest.machine} "
                 "guests")
        if name == "platform":
            yield at(timer, "timer", "unsupported timer type (name) 'platform'",
                     "remove the timer")
        elif name in X86_TIMERS and present == "yes" and not x86:
            yield at(timer, "timer", f"Configuring the '{name}' timer is not supported {where}",
                     "an x86 timer; remove it")
        elif name == "rtc" and track == "boot":
            yield at(timer, "timer", "unsupported rtc timer track 'boot'",
                     "use track='guest' or 'wall'")
        elif name == "rtc" and policy in ("merge", "discard"):
            yield at(timer, "timer", f"unsupported rtc timer tickpolicy '{policy}'",
                     "use delay or catchup")
        elif name == "pit" and policy == "merge":
            yield at(timer, "timer", "unsupported pit tickpolicy 'merge'",
                     "use delay, catchup or discard")
        elif name == "hpet" and present == "yes" and not x86:
            yield at(timer, "timer", "hpet timer is not supported", "an x86 timer; remove it")
        elif name == "armvtimer" and (virt_type != "kvm" or not is_arm_virt(guest)):
            yield at(timer, "timer", f"Configuring the 'armvtimer' timer is not supported "
                     f"{where}", "a KVM ARM virt timer; remove it")


def check_guest_cpu(guest: Guest) -> Iterator[Finding]:
    """virCPUDefParseXML, qemuDomainDefCPUPostParse and qemuValidateDomainDefCpu."""
    cpu = guest.dom.root.find("cpu")
    if cpu is None:
        return
    arch, mode = guest.dom.arch, cpu.get("mode") or "custom"
    model = cpu.find("model")
    has_model = model is not None and bool((model.text or "").strip())
    if cpu.find("vendor") is not None and not has_model:
        yield at(cpu.find("vendor"), "guest-cpu", "CPU vendor specified without CPU model",
                 "name a <model>, or remove <vendor>")
        return
    features = cpu.findall("feature")
    if features and not has_model and mode == "custom":
        yield at(features[0], "guest-cpu", "Non-empty feature list specified without CPU model",
                 "name a <model>, or use mode='host-model'")
        return
    names: set[str] = set()
    for feature in features:
        name = feature.get("name")
        if name in names:
            yield at(feature, "guest-cpu", f"CPU feature '{name}' specified more than once",
                     "list each feature once")
            return
        if name:
            names.add(name)
    sve = [f for f in features if f.get("name") == "sve"]
    if any(n.startswith("sve") and n != "sve" for n in names) and sve and \
            sve[0].get("policy") in ("disable", "forbid"):
        yield at(sve[0], "guest-cpu", "SVE disabled, but SVE vector lengths provided",
                 "enable sve, or remove the sveNNN lengths")
        return
    # (a check= without a model is refused by virDomainDefPostParseCpu only where the QEMU
    # driver found no default CPU model for the machine first: that is QEMU's to say)
    yield from _cpu_cache(cpu, arch, mode)
    yield from _phys_bits(cpu, arch)


def _cpu_cache(cpu: Element, arch: str, mode: str) -> Iterator[Finding]:
    cache = cpu.find("cache")
    if cache is None:
        return
    if arch not in X86:
        yield at(cache, "guest-cpu", f"CPU cache specification is not supported for '{arch}' "
                 "architecture", "remove <cache>")
        return
    cache_mode, level = cache.get("mode"), cache.get("level")
    if cache_mode == "emulate" and level != "3":
        yield at(cache, "guest-cpu", "CPU cache mode 'emulate' can only be used with level='3'",
                 "write level='3'")
    elif cache_mode == "passthrough" and mode not in ("host-passthrough", "maximum"):
        yield at(cache, "guest-cpu", "CPU cache mode 'passthrough' can only be used with "
                 "'host-passthrough' / 'maximum' CPUs", "use mode='emulate' or 'disable'")
    elif cache_mode in ("passthrough", "disable") and level is not None:
        yield at(cache, "guest-cpu", f"unsupported CPU cache level for mode '{cache_mode}'",
                 "remove level=")


def _phys_bits(cpu: Element, arch: str) -> Iterator[Finding]:
    addr = cpu.find("maxphysaddr")
    if addr is None:
        return
    if arch not in X86:
        yield at(addr, "guest-cpu", "CPU maximum physical address bits specification is not "
                 f"supported for '{arch}' architecture", "remove <maxphysaddr>")
    elif addr.get("mode") == "passthrough" and addr.get("bits") is not None:
        yield at(addr, "guest-cpu", "CPU maximum physical address bits number specification "
                 "cannot be used with mode='passthrough'", "remove bits=, or use mode='emulate'")
    elif addr.get("mode") == "emulate" and addr.get("bits") is None:
        yield at(addr, "guest-cpu", "if using CPU maximum physical address mode='emulate', "
                 "bits= must be specified too", "add bits='N'")


# ---- security labels, SMBIOS, BIOS -----------------------------------------------------------


def check_seclabels(guest: Guest) -> Iterator[Finding]:
    """virSecurityLabelDefParseXML and virSecurityLabelDefsParseXML (inactive definitions)."""
    models: dict[str | None, Element] = {}
    for label in guest.dom.root.findall("seclabel"):
        kind = label.get("type") or "dynamic"
        relabel = label.get("relabel")
        relabels = relabel == "yes" if relabel is not None else kind == "dynamic"
        if kind == "dynamic" and not relabels:
            yield at(label, "seclabel", "dynamic label type must use resource relabeling",
                     "remove relabel='no'")
            return
        if kind == "none" and relabels:
            yield at(label, "seclabel", "resource relabeling is not compatible with 'none' "
                     "label type", "remove relabel='yes'")
            return
        model = label.get("model")
        if model is not None and model in models:
            yield at(label, "seclabel", f"seclabel for model {model} is already provided",
                     f"the other is on line {models[model].sourceline}; keep one per model")
            return
        if model != "none" and kind == "static" and not (label.findtext("label") or ""):
            yield at(label, "seclabel", "security label is missing",
                     "a static label needs its <label>")
            return
        models.setdefault(model, label)


_DATE = re.compile(r"([^/]*)/([^/]*)/([^/]*)")


def check_sysinfo(guest: Guest) -> Iterator[Finding]:
    """virSysinfoBIOSParseXML: the BIOS date is mm/dd/yy or mm/dd/yyyy."""
    for entry in guest.dom.root.findall("sysinfo/bios/entry"):
        if entry.get("name") != "date":
            continue
        m = _DATE.fullmatch(entry.text or "")
        month, day, year = (read(p, "i", 10) for p in m.groups()) if m else (None,) * 3
        good = month is not None and day is not None and year is not None and \
            1 <= month <= 12 and 1 <= day <= 31 and year >= 0 and not 100 <= year < 1900
        if not good:
            yield at(entry, "sysinfo", "Invalid BIOS 'date' format",
                     "write mm/dd/yyyy (or mm/dd/yy)")
        break


def check_os(guest: Guest) -> Iterator[Finding]:
    """qemuValidateDomainDef: an hvm guest, and the BIOS serial console."""
    os_type = guest.dom.os_type
    if os_type is not None and (os_type.text or "").strip() not in ("hvm", ""):
        text = (os_type.text or "").strip()
        if text in ("xen", "linux", "exe", "xenpvh", "uml"):  # the others: a value problem
            emulator = guest.dom.root.findtext("devices/emulator") or guest.emulator.binary
            yield at(os_type, "os-type", f"Emulator '{emulator.strip()}' does not support os "
                     f"type '{text}'", "QEMU runs hvm guests")
    bios = guest.dom.root.find("os/bios")
    if bios is not None and bios.get("useserial") == "yes":
        if guest.dom.arch not in X86:
            yield at(bios, "os-bios", "BIOS serial console only supported on x86 architectures",
                     "remove useserial=")
        elif not guest.dom.of("serial"):
            yield at(bios, "os-bios", "need at least one serial port to use BIOS serial output",
                     "add a <serial>")


CHECKS = (check_firmware, check_uefi_acpi, check_boot, check_lifecycle, check_features,
          check_timers, check_guest_cpu, check_seclabels, check_sysinfo, check_os)
