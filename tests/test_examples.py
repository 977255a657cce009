"""Golden tests over the hand-written guests in ``examples/``.

For every ``examples/NAME.xml`` (not the ``*.out.xml`` files), ``augmenter.augment`` must return
exactly the checked-in ``examples/NAME.out.xml``. To regenerate the expected files after an
intended change, run::

    AUGMENTER_REGEN=1 pytest tests/test_examples.py

and review the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

import augmenter

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
OUT_SUFFIX = ".out.xml"
REGEN = os.environ.get("AUGMENTER_REGEN", "") == "1"

INPUTS = sorted(p for p in EXAMPLES.glob("*.xml") if not p.name.endswith(OUT_SUFFIX))
IDS = [p.stem for p in INPUTS]


def out_path(src: Path) -> Path:
    return src.with_name(src.stem + OUT_SUFFIX)


def read_text(path: Path) -> str:
    # Read bytes and decode ourselves: no newline translation, so comparisons are byte-exact.
    return path.read_bytes().decode("utf-8")


def parse(text: str) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.fromstring(text.encode("utf-8"), parser)


def expected_output(src: Path) -> str:
    dst = out_path(src)
    if not dst.exists():
        pytest.fail(f"{dst.name} is missing; create it with AUGMENTER_REGEN=1 pytest {__file__}")
    return read_text(dst)


def test_examples_exist() -> None:
    assert len(INPUTS) >= 8, f"expected at least 8 example guests in {EXAMPLES}"
    with_metadata = [p.name for p in INPUTS if parse(read_text(p)).find("metadata") is not None]
    with_comments = [p.name for p in INPUTS if parse(read_text(p)).xpath("//comment()")]
    assert len(with_metadata) >= 2, with_metadata
    assert len(with_comments) >= 2, with_comments


def test_no_stale_outputs() -> None:
    """Every ``*.out.xml`` belongs to an input; a renamed example must not leave one behind."""
    outputs = {p.name for p in EXAMPLES.glob("*" + OUT_SUFFIX)}
    wanted = {out_path(p).name for p in INPUTS}
    assert outputs <= wanted, f"outputs without an input: {sorted(outputs - wanted)}"


@pytest.mark.parametrize("src", INPUTS, ids=IDS)
def test_golden_output(src: Path) -> None:
    actual = augmenter.augment(read_text(src))
    assert isinstance(actual, str)
    if REGEN:
        out_path(src).write_bytes(actual.encode("utf-8"))
        return
    expected = expected_output(src)
    assert actual == expected, (
        f"augment({src.name}) differs from {out_path(src).name}; if the change is intended, "
        "regenerate with AUGMENTER_REGEN=1"
    )


@pytest.mark.parametrize("src", INPUTS, ids=IDS)
def test_bytes_and_text_agree(src: Path) -> None:
    """The API takes str or bytes; both spellings of the same document give the same result."""
    assert augmenter.augment(src.read_bytes()) == augmenter.augment(read_text(src))


@pytest.mark.libvirt
@pytest.mark.parametrize("src", INPUTS, ids=IDS)
def test_output_validates(src: Path, domain_rng: Any) -> None:
    doc = parse(expected_output(src))
    if not domain_rng.validate(doc):
        log = "\n".join(str(e) for e in domain_rng.error_log)
        pytest.fail(f"{out_path(src).name} does not validate against domain.rng:\n{log}")


@pytest.mark.parametrize("src", INPUTS, ids=IDS)
def test_idempotent(src: Path) -> None:
    once = augmenter.augment(read_text(src))
    assert augmenter.augment(once) == once


def comments(root: etree._Element) -> list[str]:
    return [str(c.text) for c in root.xpath("//comment()")]


def canonical(el: etree._Element | None) -> bytes | None:
    return None if el is None else etree.tostring(el, method="c14n")


@pytest.mark.parametrize("src", INPUTS, ids=IDS)
def test_keeps_comments_and_metadata(src: Path) -> None:
    before = parse(read_text(src))
    after = parse(augmenter.augment(read_text(src)))
    assert comments(after) == comments(before)
    assert canonical(after.find("metadata")) == canonical(before.find("metadata"))


def device_key(dev: etree._Element) -> str:
    """A name for a device that survives devices being added around it."""
    target, mac = dev.find("target"), dev.find("mac")
    if dev.tag == "disk" and target is not None:
        return f"disk {target.get('dev')}"
    if dev.tag == "controller":
        return f"controller {dev.get('type')} {dev.get('index')}"
    if dev.tag == "interface" and mac is not None:
        return f"interface {mac.get('address')}"
    parent = dev.getparent()
    assert parent is not None
    return f"{dev.tag} #{parent.findall(dev.tag).index(dev)}"


def pci_addresses(root: etree._Element) -> dict[str, tuple[int, ...]]:
    """The devices' PCI addresses as (domain, bus, slot, function), keyed by device."""
    found: dict[str, tuple[int, ...]] = {}
    for addr in root.iterfind("devices/*/address[@type='pci']"):
        dev = addr.getparent()
        assert dev is not None
        fields = ("domain", "bus", "slot", "function")
        found[device_key(dev)] = tuple(int(addr.get(name, "0"), 0) for name in fields)
    return found


@pytest.mark.parametrize("src", INPUTS, ids=IDS)
def test_keeps_user_pci_addresses(src: Path) -> None:
    """Addresses the user wrote are constraints: they come out unchanged."""
    before = pci_addresses(parse(read_text(src)))
    after = pci_addresses(parse(augmenter.augment(read_text(src))))
    for key, addr in before.items():
        assert after.get(key) == addr, key
