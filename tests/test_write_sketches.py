"""Children kept as data until written (``model.domain.Device.sketches``, issue 18, Build 1):
half a million serial ports or consoles each get a new ``<target>``, which as lxml elements
cost the guest a gigabyte. The writer spells them; these tests hold its bytes to those of the
same run with every sketch made an element first (``Result.tree`` makes them)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import augmenter
from augmenter.pipeline import Options, Result

sys.path.insert(0, str(Path(__file__).parent))
from libvirt_env import example_inputs, generated_guests

EMBEDDED = Options(boards="embedded")


def _both(data: str | bytes) -> tuple[bytes, bytes, Result]:
    """The output written with the sketches spelt, and with them made first."""
    spelt = augmenter.run(data, EMBEDDED)
    made = augmenter.run(data, EMBEDDED)
    made.tree  # noqa: B018 (asking for the tree makes every sketch an element)
    assert not made.guest.dom.sketched()
    return spelt.to_bytes(), made.to_bytes(), spelt


def _guest(devices: str, machine: str = "q35", arch: str = "x86_64", quote: str = "'",
           newline: str = "\n") -> str:
    text = (f"<domain type='kvm'>\n  <name>g</name>\n  <memory>1048576</memory>\n"
            f"  <os><type arch='{arch}' machine='{machine}'>hvm</type></os>\n"
            f"  <devices>\n{devices}  </devices>\n</domain>\n")
    return text.replace("'", quote).replace("\n", newline)


SHAPES = {
    "serial ports": "    <serial type='pty'/>\n    <serial type='pty'/>\n",
    "an end tag": "    <serial type='pty'></serial>\n",
    "a space in the tag": "    <serial type='pty' />\n",
    "whitespace inside": "    <serial type='pty'>\n    </serial>\n",
    "an alias": "    <serial type='pty'><alias name='ua-s'/></serial>\n",
    "consoles": "    <console type='pty'/>\n    <console type='pty'><target type='virtio'/>"
                "</console>\n",
    "a console and a serial": "    <serial type='pty'/>\n    <console type='pty'/>\n",
    "a serial port beside one with a target":
        "    <serial type='pty'/>\n    <serial type='pty'><target port='3'/></serial>\n",
    "no indentation": "<serial type='pty'/><console type='pty'/>",
}


@pytest.mark.parametrize("quote", ["'", '"'])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_sketches_are_written_as_the_elements_they_stand_for(shape: str, quote: str,
                                                             newline: str) -> None:
    spelt, made, _ = _both(_guest(SHAPES[shape], quote=quote, newline=newline))
    assert spelt == made


@pytest.mark.parametrize(("machine", "arch"), [("pseries", "ppc64"), ("virt", "aarch64"),
                                                ("s390-ccw-virtio", "s390x")])
def test_a_sketch_is_made_before_an_address_is_written_after_it(machine: str,
                                                               arch: str) -> None:
    # pSeries gives its serial ports a spapr-vio address: the target comes first
    spelt, made, _ = _both(_guest(SHAPES["serial ports"], machine, arch))
    assert spelt == made
    assert b"<target" in spelt


def test_a_serial_ports_target_is_read_without_making_it() -> None:
    result = augmenter.run(_guest("    <serial type='pty'/>\n" * 3), EMBEDDED)
    ports = result.guest.dom.of("serial")
    assert all(p.sketches for p in ports)  # the writer spells them
    assert [p.target("port") for p in ports] == ["0", "1", "2"]
    assert ports[1].child("target") is not None  # asked for as an element: made
    assert not ports[1].sketches and ports[0].sketches
    assert result.to_bytes().count(b"<model name='isa-serial'/>") == 3


def test_every_example_and_generated_guest_writes_the_same_either_way() -> None:
    texts = [p.read_bytes() for p in example_inputs()] + [
        g.xml.encode() for g in generated_guests()]
    sketched = 0
    for text in texts:
        try:
            spelt, made, result = _both(text)
        except augmenter.InvalidDomain:
            continue
        sketched += bool(result.guest.dom.sketched())
        assert spelt == made
    assert sketched  # the comparison is not vacuous
