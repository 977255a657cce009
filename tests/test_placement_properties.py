"""Properties of ``augmenter.augment`` over random valid pc / q35 guests (see ``guests.py``).

Every generated guest is one libvirt 9.0 accepts, so an ``AugmentError`` is a bug, either in
the generator or in the augmenter; the failing guest is printed by Hypothesis.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from guests import random_guest
from hypothesis import HealthCheck, given, note, settings
from lxml import etree

import augmenter

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

pytestmark = pytest.mark.slow  # real QEMU or libvirt, processes or hypothesis: not fast

Guest = tuple[str, str]


def augmented(xml: str) -> str:
    try:
        return augmenter.augment(xml)
    except augmenter.AugmentError as exc:
        note(f"AugmentError (line {exc.line}): {exc.message}")
        pytest.fail(f"augment rejected a valid guest: line {exc.line}: {exc.message}")


def parse(xml: str) -> etree._Element:
    return etree.fromstring(xml.encode("utf-8"), etree.XMLParser(resolve_entities=False))


def devices(root: etree._Element) -> Iterator[etree._Element]:
    container = root.find("devices")
    assert container is not None
    for el in container:
        if isinstance(el.tag, str):
            yield el


def describe(dev: etree._Element) -> str:
    """The device's start tag plus its target, for failure messages."""
    attrs = " ".join(f"{k}='{v}'" for k, v in dev.attrib.items())
    target = dev.find("target")
    extra = "" if target is None else " target " + " ".join(f"{k}={v}" for k, v in target.items())
    return f"<{dev.tag} {attrs}>{extra} (line {dev.sourceline})"


def expected_address_type(dev: etree._Element) -> str | None:
    """The address type libvirt gives this device, or None when it gives it none."""
    tag = dev.tag
    if tag == "disk":
        target = dev.find("target")
        bus = None if target is None else target.get("bus")
        if bus == "virtio":
            return "pci"
        if bus in ("ide", "sata", "scsi", "fdc"):
            return "drive"
        return None
    if tag == "controller":
        ctype, model = dev.get("type"), dev.get("model")
        if ctype == "pci" and model in ("pci-root", "pcie-root"):
            return None
        if ctype == "fdc" or (ctype == "usb" and model == "none"):
            return None
        return "pci"
    if tag == "memballoon":
        return None if dev.get("model") == "none" else "pci"
    if tag == "video":
        model = dev.find("model")
        return None if model is not None and model.get("type") == "none" else "pci"
    if tag == "watchdog":
        return "pci" if dev.get("model") == "i6300esb" else None
    if tag == "channel":
        target = dev.find("target")
        return "virtio-serial" if target is not None and target.get("type") == "virtio" else None
    if tag == "input":
        return "usb" if dev.get("bus") == "usb" else None
    if tag in ("redirdev", "hub"):
        return "usb"
    if tag in ("interface", "sound", "rng"):
        return "pci"
    return None


def num(value: str | None) -> int:
    return int(value or "0", 0)


@PROPERTY_SETTINGS
@given(random_guest())
def test_every_device_gets_an_address(guest: Guest) -> None:
    xml, _machine = guest
    root = parse(augmented(xml))
    for dev in devices(root):
        want = expected_address_type(dev)
        if want is None:
            continue
        addr = dev.find("address")
        assert addr is not None, f"no <address> on {describe(dev)}"
        assert addr.get("type") == want, f"{describe(dev)}: address type {addr.get('type')}"


def address_keys(root: etree._Element) -> Iterator[tuple[Any, ...]]:
    """One key per device address; two equal keys are a double use of one address."""
    for dev in devices(root):
        addr = dev.find("address")
        if addr is None:
            continue
        atype = addr.get("type")
        if atype == "pci":
            yield (
                "pci",
                num(addr.get("domain")),
                num(addr.get("bus")),
                num(addr.get("slot")),
                num(addr.get("function")),
            )
        elif atype == "drive" and dev.tag == "disk":
            target = dev.find("target")
            bus = None if target is None else target.get("bus")
            drive = ("controller", "bus", "target", "unit")
            yield ("drive", bus, *(num(addr.get(f)) for f in drive))
        elif atype == "virtio-serial":
            port = ("controller", "bus", "port")
            yield ("virtio-serial", *(num(addr.get(f)) for f in port))
        elif atype == "usb":
            yield ("usb", num(addr.get("bus")), addr.get("port"))


@PROPERTY_SETTINGS
@given(random_guest())
def test_no_address_is_used_twice(guest: Guest) -> None:
    xml, _machine = guest
    root = parse(augmented(xml))
    counts = Counter(address_keys(root))
    doubles = sorted((key for key, n in counts.items() if n > 1), key=repr)
    assert not doubles, f"addresses used more than once: {doubles}"


@PROPERTY_SETTINGS
@given(random_guest())
def test_augment_is_idempotent(guest: Guest) -> None:
    xml, _machine = guest
    once = augmented(xml)
    assert augmented(once) == once


def controllers(root: etree._Element) -> dict[tuple[str, int], etree._Element]:
    found: dict[tuple[str, int], etree._Element] = {}
    for dev in devices(root):
        if dev.tag == "controller":
            key = (str(dev.get("type")), num(dev.get("index")))
            assert key not in found, f"two controllers {key}"
            found[key] = dev
    return found


@PROPERTY_SETTINGS
@given(random_guest())
def test_addresses_name_existing_controllers(guest: Guest) -> None:
    """Each address points at a controller in the output that can take it."""
    xml, machine = guest
    root = parse(augmented(xml))
    ctrls = controllers(root)
    root_model = "pcie-root" if machine == "q35" else "pci-root"
    assert ctrls[("pci", 0)].get("model") == root_model
    for dev in devices(root):
        addr = dev.find("address")
        if addr is None:
            continue
        atype = addr.get("type")
        if atype == "pci":
            bus, slot, function = (num(addr.get(f)) for f in ("bus", "slot", "function"))
            assert 0 <= slot <= 0x1F and 0 <= function <= 7, describe(dev)
            parent = ctrls.get(("pci", bus))
            assert parent is not None, f"{describe(dev)}: no PCI controller index {bus}"
            if parent.get("model") in ("pcie-root-port", "pcie-switch-downstream-port"):
                assert slot == 0, f"{describe(dev)}: slot {slot} behind a root port"
            if parent.get("model") in ("pci-root", "pcie-root", "pci-bridge"):
                assert slot >= 1, f"{describe(dev)}: slot 0 on {parent.get('model')}"
        elif atype == "drive" and dev.tag == "disk":
            target = dev.find("target")
            assert target is not None
            key = (str(target.get("bus")), num(addr.get("controller")))
            assert key in ctrls, f"{describe(dev)}: no controller {key}"
        elif atype == "virtio-serial":
            key = ("virtio-serial", num(addr.get("controller")))
            assert key in ctrls, f"{describe(dev)}: no controller {key}"
        elif atype == "usb":
            key = ("usb", num(addr.get("bus")))
            assert key in ctrls, f"{describe(dev)}: no controller {key}"
            assert ctrls[key].get("model") != "none", describe(dev)


def user_pci_addresses(root: etree._Element) -> dict[str, tuple[int, ...]]:
    """PCI addresses of devices, keyed by something that survives added devices."""
    found: dict[str, tuple[int, ...]] = {}
    seen: Counter[str] = Counter()
    for dev in devices(root):
        target, mac = dev.find("target"), dev.find("mac")
        if dev.tag == "disk" and target is not None:
            key = f"disk {target.get('dev')}"
        elif dev.tag == "interface" and mac is not None:
            key = f"interface {mac.get('address')}"
        else:
            key = f"{dev.tag} #{seen[dev.tag]}"
            seen[dev.tag] += 1
        addr = dev.find("address")
        if addr is not None and addr.get("type") == "pci":
            fields = ("domain", "bus", "slot", "function")
            found[key] = tuple(num(addr.get(f)) for f in fields)
    return found


@PROPERTY_SETTINGS
@given(random_guest())
def test_user_addresses_are_kept(guest: Guest) -> None:
    xml, _machine = guest
    before = user_pci_addresses(parse(xml))
    after = user_pci_addresses(parse(augmented(xml)))
    for key, addr in before.items():
        assert after.get(key) == addr, f"{key}: {addr} became {after.get(key)}"


@pytest.mark.libvirt
@settings(max_examples=50, deadline=None, derandomize=True, database=None)
@given(guest=random_guest())
def test_generated_guests_are_schema_valid(guest: Guest, domain_rng: etree.RelaxNG) -> None:
    """Sanity check of the generator itself against libvirt's schema."""
    xml, _machine = guest
    if not domain_rng.validate(parse(xml)):
        pytest.fail("\n".join(str(e) for e in domain_rng.error_log))


@PROPERTY_SETTINGS
@given(random_guest())
def test_an_address_written_with_its_value_reads_back_as_that_value(guest: Guest) -> None:
    """Placement hands ``write_address`` the value it wrote, so as not to read half a million
    new addresses back: each kept value is what reading the written element gives."""
    from augmenter.model.numbers import InvalidValue
    from augmenter.model.values import read_address
    from augmenter.pipeline import Options, augment_tree
    from augmenter.xml.document import parse_document

    xml, _ = guest
    try:
        placed, _ = augment_tree(parse_document(xml.encode()), Options(boards="embedded"))
    except augmenter.AugmentError:
        return
    for dev in placed.dom.devices:
        if dev.address is None:
            continue
        try:
            written = read_address(dev.address)
        except InvalidValue:
            continue
        assert dev.addr_value() == written, describe(dev.el)
