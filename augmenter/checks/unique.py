"""Define-time rules about what a domain may have only once.

libvirt refuses a second copy of: a user alias (``virDomainDefValidateAliases``), a host device
(``virDomainDefHostdevValidate``), a watchdog, memory balloon, NVRAM, IOMMU or vsock
(``virDomainDefParseXML``), a TPM of each kind (``qemuValidateDomainDefTPMs``), a primary video
(``virDomainDefVideoValidate``), a panic model (``virDomainDefRejectDuplicatePanics``), a blkio
device path (``virDomainDefTunablesValidate``), an audio id (``virDomainAudioDefValidate``), a
virtiofs target (``virDomainDefFSValidate``), a vfio-ap mediated device and a vGPU with
``ramfb`` (``qemuValidateDomainMdevDefVFIOAP``, ``virDomainDefHostdevValidate``).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator

from ..model.domain import Device
from ..model.numbers import read
from ..model.values import (
    ADDRESS_FIELDS,
    AUDIO_ID,
    HOSTDEV_SCSI_FIELDS,
    HOSTDEV_USB_FIELDS,
    SOUND_AUDIO_ID,
    USB_PRODUCT_ID,
    USB_VENDOR_ID,
    VNC_AUDIO_ID,
    Field,
    field_value,
)
from ..placement.guest import Guest
from ..xml.document import Element, first_child
from .findings import Finding
from .located import at, on

# devices a domain holds at most once, and libvirt's words for a second one
SINGLETONS = {
    "watchdog": "only a single watchdog device is supported",
    "memballoon": "only a single memory balloon device is supported",
    "nvram": "only a single nvram device is supported",
    "iommu": "only a single IOMMU device is supported",
    "vsock": "only a single vsock device is supported",
}


def _written(guest: Guest, tag: str) -> list[Device]:
    return [d for d in guest.dom.of(tag) if not d.implicit]


def check_singletons(guest: Guest) -> Iterator[Finding]:
    """virDomainDefParseXML: one watchdog, balloon, NVRAM, IOMMU and vsock; two TPMs."""
    for tag, message in SINGLETONS.items():
        devices = _written(guest, tag)
        if len(devices) > 1:
            yield on(devices[1], "duplicate-device", message,
                     f"the first is on line {devices[0].line}; keep one")
    tpms = _written(guest, "tpm")
    if len(tpms) > 2:
        yield on(tpms[2], "duplicate-device", "a maximum of two TPM devices is supported, one "
                 "of them being a TPM Proxy device", "keep one TPM and at most one proxy")
        return
    proxies = [t for t in tpms if t.model == "spapr-tpm-proxy"]
    regular = [t for t in tpms if t.model != "spapr-tpm-proxy"]
    if len(proxies) > 1:
        yield on(proxies[1], "duplicate-device", "only a single TPM Proxy device is supported",
                 f"the first is on line {proxies[0].line}; keep one")
    elif len(regular) > 1:  # qemuValidateDomainDefTPMs
        yield on(regular[1], "duplicate-device", "only a single TPM non-proxy device is "
                 "supported", f"the first is on line {regular[0].line}; keep one")


def _alias(dev: Device) -> Element | None:
    alias = dev.child("alias")
    name = alias.get("name") if alias is not None else None
    return alias if name is not None and name.startswith("ua-") else None


def _console_copy(guest: Guest, dev: Device) -> bool:
    """The first serial port and the first console, when that console stands for the port:
    libvirt skips every character device equal to the first serial port while the first
    console is of target type serial (its compatibility console, which it adds for the port
    when none is written), so their aliases are not compared."""
    serials, consoles = guest.dom.of("serial"), guest.dom.of("console")
    if not serials:
        return False
    if consoles and consoles[0].target("type") not in (None, "serial"):
        return False
    return dev is serials[0] or bool(consoles and dev is consoles[0])


def check_aliases(guest: Guest) -> Iterator[Finding]:
    """virDomainDefValidateAliases: user aliases (``ua-...``) are unique."""
    seen: dict[str, Device] = {}
    named = [(dev, alias) for dev in guest.dom.iterate() if (alias := _alias(dev)) is not None]
    for dev, alias in named:
        if dev.implicit or _console_copy(guest, dev):
            continue
        name = str(alias.get("name"))
        if name in seen:
            yield on(dev, "duplicate-alias", f"non unique alias detected: {name}",
                     f"{seen[name].name()} on line {seen[name].line} has it too; rename one",
                     el=alias)
        else:
            seen[name] = dev


def _number(el: Element | None, attr: str) -> int | None:
    """A host device's number (``virXMLPropUInt`` base 0: ``0x41`` and ``65`` alike), 0 when
    absent."""
    text = el.get(attr) if el is not None else None
    return 0 if text is None else read(text, "uip", 0)


def _source(el: Element | None, f: Field) -> int | None:
    """A host device's source number as the model declares it (:func:`field_value`), 0 when
    absent."""
    text = el.get(f.name) if el is not None else None
    return 0 if text is None else field_value(el, f)


def hostdev_key(dev: Device) -> Hashable | None:
    """What virDomainHostdevMatch compares for a host device: its source, per type."""
    source = dev.child("source")
    if source is None:
        return None
    mode = dev.el.get("mode") or "subsystem"
    kind = dev.type if dev.tag == "hostdev" else "pci"  # <interface type='hostdev'>: PCI
    if mode != "subsystem":
        return None
    if kind == "pci":
        a = source.find("address")
        if a is None:
            return None
        return ("pci", *(_source(a, f) for f in ADDRESS_FIELDS["pci"]))
    if kind == "usb":
        a = source.find("address")
        bus = _source(a, HOSTDEV_USB_FIELDS["bus"])
        device = _source(a, HOSTDEV_USB_FIELDS["device"])
        if bus and device:
            return ("usb-at", bus, device)
        return ("usb-id", _source(source.find("vendor"), USB_VENDOR_ID),
                _source(source.find("product"), USB_PRODUCT_ID))
    if kind == "scsi":
        if source.get("protocol") == "iscsi":
            host = source.find("host")
            return ("iscsi", source.get("name"), host.get("name") if host is not None else None,
                    _number(host, "port"))
        adapter, a = source.find("adapter"), source.find("address")
        return ("scsi", adapter.get("name") if adapter is not None else None,
                _source(a, HOSTDEV_SCSI_FIELDS["bus"]), _source(a, HOSTDEV_SCSI_FIELDS["target"]),
                _number(a, "unit"))  # libvirt reads it with virXMLPropULongLong
    if kind == "scsi_host":
        return ("scsi_host", source.get("protocol"), source.get("wwpn"))
    if kind == "mdev":
        a = source.find("address")
        return ("mdev", a.get("uuid") if a is not None else None)
    return None


def check_hostdevs(guest: Guest) -> Iterator[Finding]:
    """virDomainDefHostdevValidate and qemuValidateDomainMdevDefVFIOAP."""
    devices = [n for n in guest.dom.of("interface") if n.type == "hostdev"]
    devices += _written(guest, "hostdev")
    seen: dict[Hashable, Device] = {}
    for dev in devices:
        key = hostdev_key(dev)
        if key is None:
            continue
        if key in seen:
            yield on(dev, "duplicate-hostdev", "Hostdev already exists in the domain "
                     "configuration", f"{seen[key].name()} on line {seen[key].line} passes the "
                     "same host device; keep one")
            return
        seen[key] = dev
    mdevs = [h for h in _written(guest, "hostdev") if h.type == "mdev"]
    ramfb = [h for h in mdevs if h.el.get("ramfb") == "on"]
    if len(ramfb) > 1:
        yield on(ramfb[1], "duplicate-hostdev", "Only one vgpu device can have 'ramfb' enabled",
                 "switch ramfb off on all but one")
    vfio_ap = [h for h in mdevs if h.el.get("model") == "vfio-ap"]
    if len(vfio_ap) > 1:
        yield on(vfio_ap[1], "duplicate-hostdev", "Only one hostdev of model vfio-ap is "
                 "supported", "keep one vfio-ap device")


def check_videos(guest: Guest) -> Iterator[Finding]:
    """virDomainDefVideoValidate and virDomainVideoDefValidate."""
    videos = _written(guest, "video")
    primary = [v for v in videos if (m := v.child("model")) is not None and
               m.get("primary") == "yes"]
    if len(primary) > 1:
        yield on(primary[1], "primary-video", "Only one primary video device is supported",
                 f"{primary[0].name()} on line {primary[0].line} is primary too; keep one "
                 "primary='yes'", el=primary[1].child("model"))
    if len(videos) > 1 and any(v.model == "none" for v in videos):
        none = next(v for v in videos if v.model == "none")
        yield on(none, "primary-video", "a 'none' video type must be the only video device "
                 "defined for the domain", "remove the other videos, or this one",
                 el=none.child("model"))


def check_panics(guest: Guest) -> Iterator[Finding]:
    """virDomainDefRejectDuplicatePanics: one panic device per model."""
    first: dict[str, tuple[str, str]] = {}  # model -> the message and hint of a second one
    default = (guest.family.panic if guest.family else None) or "isa"
    for panic in _written(guest, "panic"):
        model = panic.model or default
        words = first.get(model)
        if words is None:
            first[model] = (f"Multiple panic devices with model '{model}'",
                            f"the first is on line {panic.line}; keep one")
        else:
            yield on(panic, "duplicate-device", *words)


def check_tunables(guest: Guest) -> Iterator[Finding]:
    """virDomainDefTunablesValidate: each blkio device path once."""
    seen: set[str] = set()
    for device in guest.dom.root.findall("blkiotune/device"):
        path = (device.findtext("path") or "").strip()
        if path in seen:
            yield at(device, "duplicate-blkio", f"duplicate blkio device path '{path}'",
                     "tune each host device once")
            return
        seen.add(path)


def check_audio_ids(guest: Guest) -> Iterator[Finding]:
    """virDomainAudioDefValidate and virDomainEnsureAudioID: audio ids are unique, and the ids
    that sound cards and VNC name exist."""
    audios = guest.dom.root.findall("devices/audio")
    ids: dict[int, Element] = {}
    for audio in audios:
        ident = field_value(audio, AUDIO_ID)
        if ident is None:
            continue
        if ident in ids:
            yield at(audio, "audio-id", f"audio ID {ident} is used multiple times",
                     f"the other is on line {ids[ident].sourceline}; give each its own id")
            return
        ids[ident] = audio
    # the references that are written (a guest may hold half a million cards without one)
    refs = [(s.child("audio"), SOUND_AUDIO_ID) for s in guest.dom.of("sound")]
    refs += [(first_child(g, "audio"), VNC_AUDIO_ID)
             for g in guest.dom.devices_el.iterchildren("graphics") if g.get("type") == "vnc"]
    for ref, field in refs:
        if ref is None:
            continue
        ident = field_value(ref, field)
        if ident and ident not in ids:
            yield at(ref, "audio-id", f"no audio device with ID {ident}",
                     "add <audio id='N' type='...'/> to <devices>, or remove the reference")
            return


def check_filesystems(guest: Guest) -> Iterator[Finding]:
    """virDomainDefFSValidate: one virtiofs per guest target."""
    seen: set[str] = set()
    for fs in _written(guest, "filesystem"):
        driver = fs.child("driver")
        if driver is None or driver.get("type") != "virtiofs":
            continue
        target = fs.child("target")
        name = target.get("dir") if target is not None else None
        if name is None:
            continue
        if name in seen:
            yield on(fs, "duplicate-device", f"filesystem target '{name}' specified twice",
                     "give each virtiofs its own target dir", el=target)
        seen.add(name)


CHECKS = (check_singletons, check_aliases, check_hostdevs, check_videos, check_panics,
          check_tunables, check_audio_ids, check_filesystems)
