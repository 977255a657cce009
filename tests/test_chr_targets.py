"""Character devices' ``<target>``, as libvirt 9.0 writes them back.

libvirt writes a target for every serial port, console and parallel port, with the port
number it gives one that has none: a parallel port's while it reads the document (one more than
the highest of the ports before it: virDomainDefParseXML), a serial port's after the checks
(virDomainChrDefPostParse), a console's by its place. Each case is written down with libvirt's
answer (``virsh define``, ``dumpxml --inactive``); ``test_libvirt_still_writes_so`` holds the
written-down answers to the local libvirtd (skipped without it, failed under ``CI``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from libvirt_env import define_and_dump
from lxml import etree

import augmenter
from augmenter.cli.verify import Virsh
from augmenter.pipeline import Options


def guest(devices: str, machine: str = "pc") -> str:
    return f"""<domain type='qemu'>
  <name>chr</name>
  <memory unit='MiB'>256</memory>
  <os><type arch='x86_64' machine='{machine}'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
{devices}
  </devices>
</domain>
"""


PARALLEL = "    <parallel type='pty'/>\n"
CASES: dict[str, tuple[str, list[str]]] = {
    # label: (guest, each character device's tag and target as libvirt writes them back)
    "parallel ports without targets": (guest(PARALLEL * 3), [
        "parallel port=0", "parallel port=1", "parallel port=2"]),
    "a written port among them": (guest(
        PARALLEL + "    <parallel type='pty'><target port='5'/></parallel>\n"
        "    <parallel type='pty'><alias name='ua-p'/></parallel>\n" + PARALLEL), [
        "parallel port=0", "parallel port=5", "parallel port=6", "parallel port=7"]),
    "a written port after them": (guest(
        PARALLEL + "    <parallel type='pty'><target port='2'/></parallel>\n" + PARALLEL,
        "q35"), ["parallel port=0", "parallel port=2", "parallel port=3"]),
    "a parallel port beside a serial port": (guest(
        PARALLEL + "    <serial type='pty'/>\n"), [
        "console type=serial port=0", "parallel port=0",
        "serial type=isa-serial port=0 model=isa-serial"]),
}


def targets(xml: str) -> list[str]:
    """Each character device's tag and ``<target>`` (attributes, then its model's name), by
    tag in document order (libvirt writes the kinds in its own order; augmenter keeps the
    document's)."""
    out = []
    for dev in etree.fromstring(xml.encode()).iterfind("devices/*"):
        if dev.tag not in ("serial", "parallel", "console", "channel"):
            continue
        target = dev.find("target")
        words = [str(dev.tag)]
        if target is not None:
            words += [f"{k}={v}" for k, v in target.attrib.items()]
            model = target.find("model")
            if model is not None:
                words.append(f"model={model.get('name')}")
        out.append(" ".join(words))
    return sorted(out, key=lambda words: words.split()[0])


@pytest.mark.parametrize("label", sorted(CASES))
def test_augment_writes_the_targets_libvirt_writes(label: str) -> None:
    xml, theirs = CASES[label]
    out = augmenter.run(xml, Options(boards="embedded")).to_string()
    assert targets(out) == theirs


@pytest.mark.slow
@pytest.mark.parametrize("label", sorted(CASES))
def test_libvirt_still_writes_so(label: str, virsh: Virsh, tmp_path: Path) -> None:
    xml, theirs = CASES[label]
    dumped = define_and_dump(virsh, xml, f"chr-{sorted(CASES).index(label)}", tmp_path)
    assert targets(dumped) == theirs
