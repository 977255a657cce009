"""Names libvirt does not know: the vocabulary table, the warnings, and ``--schema`` (issue 15).

libvirt's parser skips names it does not read, so a misspelt element or attribute is accepted
and dropped on define. The table of the names it knows is generated from libvirt's schema
(``scripts/gen_vocabulary.py``); the drift test regenerates it from the installed schema. Where
libvirtd answers, a guest full of such names is defined there: libvirt must accept it and drop
every name that is reported.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from libvirt_env import define_and_dump, example_inputs, generated_guests, libvirt_or_skip
from lxml import etree

import augmenter
from augmenter.checks import schema
from augmenter.checks.findings import Finding
from augmenter.cli.files import Request, execute
from augmenter.pipeline import Options
from augmenter.policy import names

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED = Options(boards="embedded")
NAME_CODES = ("unknown-element", "unknown-attribute", "unlisted-value", "duplicate-element")
AUGMENT = [sys.executable, "-c", "from augmenter.cli.app import main; main()"]


def guest(devices: str, head: str = "", root: str = "") -> str:
    """A q35 guest around ``devices`` (each line 4-space indented by the caller)."""
    return ("<domain type='qemu'" + root + ">\n"
            "  <name>names</name>\n"
            "  <memory unit='MiB'>256</memory>\n"
            "  <os>\n"
            "    <type arch='x86_64' machine='q35'>hvm</type>\n"
            "  </os>\n"
            + head +
            "  <devices>\n"
            "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
            + devices +
            "  </devices>\n"
            "</domain>\n")


DISK = ("    <disk type='file' device='disk'>\n"
        "      <source file='/var/lib/libvirt/images/names.img'/>\n"
        "      <target dev='vda' bus='virtio'/>\n"
        "{}"
        "    </disk>\n")


def line_of(xml: str, text: str) -> int:
    return next(n for n, line in enumerate(xml.splitlines(), 1) if text in line)


def name_findings(xml: str) -> list[Finding]:
    return [f for f in augmenter.check(xml, EMBEDDED) if f.code in NAME_CODES]


def the_one(xml: str) -> Finding:
    found = name_findings(xml)
    assert len(found) == 1, found
    return found[0]


# ---- the table ---------------------------------------------------------------------------


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_vocabulary",
                                                  ROOT / "scripts" / "gen_vocabulary.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_shipped_table_is_what_the_installed_schema_says(domain_rng: etree.RelaxNG) -> None:
    """Rerun scripts/gen_vocabulary.py when this fails (a new libvirt, a changed schema)."""
    gen = _generator()
    shipped = names.TABLE.read_text(encoding="utf-8")
    version = json.loads(shipped)["libvirt"]
    assert gen.render(gen.generate(gen.SCHEMA, version)) == shipped


def test_the_table_comes_from_libvirt_9_0() -> None:
    table = names.vocabulary()
    assert table.libvirt.startswith("9.0.")
    assert [table.name(r) for r in table.roots] == ["domain"]


def test_the_table_is_read_only_when_a_check_asks() -> None:
    code = ("import augmenter.pipeline, augmenter.policy.names as n; "
            "assert n.vocabulary.cache_info().currsize == 0")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_switch_keeps_apart_what_one_attribute_tells_apart() -> None:
    """<address type='usb'> takes port, <address type='pci'> does not; without a type,
    or with one the schema does not list, every branch holds."""
    table = names.vocabulary()
    domain = table.place(tuple(table.roots), etree.Element("domain"))
    devices = table.place(domain.children["devices"], etree.Element("devices"))
    disk = table.place(devices.children["disk"], etree.Element("disk"))

    def attrs(**values: str) -> set[str]:
        return set(table.place(disk.children["address"],
                               etree.Element("address", values)).attrs)

    assert {"slot", "function"} <= attrs(type="pci") and "port" not in attrs(type="pci")
    assert "port" in attrs(type="usb") and "slot" not in attrs(type="usb")
    assert {"slot", "port", "unit"} <= attrs() == attrs(type="bogus")


# ---- what is reported --------------------------------------------------------------------


def test_a_misspelt_element_is_a_warning_at_its_line_with_the_nearest_name() -> None:
    xml = guest(DISK.format("      <adress type='pci' domain='0' bus='0' slot='5'/>\n"))
    f = the_one(xml)
    assert (f.code, f.severity, f.line) == ("unknown-element", "warning", line_of(xml, "adress"))
    assert f.device == "disk vda" and f.message.startswith("disk vda: ")
    assert "<adress>" in f.message and "drops it" in f.message
    assert f.hint == "did you mean <address>?"


def test_a_misspelt_device_is_named_with_the_device_it_means() -> None:
    xml = guest("    <interfce type='user'>\n      <mac address='52:54:00:00:00:01'/>\n"
                "      <modle type='virtio'/>\n    </interfce>\n")
    f = the_one(xml)  # its content is dropped with it: one finding
    assert (f.code, f.line) == ("unknown-element", line_of(xml, "<interfce"))
    assert f.hint == "did you mean <interface>?" and f.device is None
    assert "in <devices>" in f.message


def test_a_misspelt_attribute_is_a_warning_with_the_nearest_name() -> None:
    xml = guest(DISK.format("      <address type='pci' domain='0' bus='0' slott='5'/>\n"))
    f = the_one(xml)
    assert (f.code, f.severity, f.line) == ("unknown-attribute", "warning",
                                            line_of(xml, "slott"))
    assert "'slott'" in f.message and "<address type='pci'>" in f.message
    assert "drops it" in f.message and f.hint == "did you mean 'slot'?"


def test_an_attribute_known_elsewhere_is_unknown_here() -> None:
    """port is an attribute of USB and drive addresses, not of a PCI one."""
    xml = guest(DISK.format("      <address type='pci' domain='0' bus='0' slot='5' "
                            "port='1'/>\n"))
    f = the_one(xml)
    assert f.code == "unknown-attribute" and "'port'" in f.message
    assert f.hint == ("attributes libvirt knows on <address type='pci'>: bus, domain, "
                      "function, multifunction, slot, type")
    usb = guest("    <input type='tablet' bus='usb'>\n"
                "      <address type='usb' bus='0' port='1'/>\n    </input>\n")
    assert name_findings(usb) == []


def test_an_element_known_elsewhere_says_where() -> None:
    xml = guest("    <boot dev='hd'/>\n")
    f = the_one(xml)
    assert f.code == "unknown-element" and f.hint is not None
    assert f.hint.startswith("libvirt knows <boot> in ") and "<os>" in f.hint


def test_case_is_a_misspelling_too() -> None:
    xml = guest(DISK.format("      <Address type='pci' domain='0' bus='0' slot='5'/>\n"))
    assert the_one(xml).hint == "did you mean <address>?"


def test_metadata_and_foreign_namespaces_are_not_looked_at() -> None:
    xml = guest(
        "    <qemu:frob xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><x y='1'/>"
        "</qemu:frob>\n"
        + DISK.format("      <my:note xmlns:my='urn:example' what='disk'/>\n"),
        head="  <metadata>\n    <app:info xmlns:app='urn:app'><anything goes='here'/>"
             "</app:info>\n  </metadata>\n"
             "  <qemu:commandline>\n    <qemu:arg valu='-S'/>\n  </qemu:commandline>\n",
        root=" xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0' "
             "xmlns:my='urn:example' my:tag='1'")
    assert name_findings(xml) == []


def test_a_value_the_schema_does_not_list_is_a_warning() -> None:
    """libvirt 9.0 accepts and drops an unknown channel state (checked in libvirtd below)."""
    xml = guest("    <channel type='unix'>\n"
                "      <target type='virtio' name='org.qemu.guest_agent.0' state='connectd'/>\n"
                "    </channel>\n")
    f = the_one(xml)
    assert (f.code, f.severity, f.line) == ("unlisted-value", "warning",
                                            line_of(xml, "connectd"))
    assert "'connectd'" in f.message and f.hint == "did you mean 'connected'?"


def test_a_value_libvirt_refuses_is_its_error_alone() -> None:
    """The parser's refusal says it all: no warning about the same value beside it."""
    xml = guest("    <disk type='file' device='disk'>\n"
                "      <target dev='vda' bus='virtioo'/>\n    </disk>\n")
    found = augmenter.check(xml, EMBEDDED)
    assert [(f.code, f.severity) for f in found if f.line == line_of(xml, "virtioo")] == [
        ("invalid-value", "error")]


def test_a_second_copy_of_an_element_held_once_is_a_warning() -> None:
    xml = guest(DISK.format("      <driver name='qemu' type='raw'/>\n"
                            "      <driver name='qemu' type='qcow2'/>\n"))
    f = the_one(xml)
    assert (f.code, f.severity, f.device) == ("duplicate-element", "warning", "disk vda")
    assert f.line == line_of(xml, "qcow2") and "a second <driver> in <disk" in f.message
    many = guest("    <interface type='user'/>\n    <interface type='user'/>\n")
    assert name_findings(many) == []  # <devices> holds any number of them


def test_two_unknown_names_are_both_reported_in_order() -> None:
    xml = guest(DISK.format("      <adress/>\n      <blockio logical_block_sise='512'/>\n"),
                head="  <vcpu placment='static'>1</vcpu>\n")
    assert [(f.code, f.line) for f in name_findings(xml)] == [
        ("unknown-attribute", line_of(xml, "placment")),
        ("unknown-element", line_of(xml, "adress")),
        ("unknown-attribute", line_of(xml, "logical_block_sise"))]


def test_a_flood_of_unknown_names_is_reported_up_to_a_limit_and_counted() -> None:
    from augmenter.checks.names import MAX_REPORTED

    attrs = " ".join(f"x{i}='1'" for i in range(MAX_REPORTED + 50))
    xml = guest(f"    <input type='tablet' bus='usb' {attrs}/>\n")
    found = name_findings(xml) + [f for f in augmenter.check(xml, EMBEDDED)
                                  if f.code == "unknown-names"]
    assert len(found) == MAX_REPORTED + 1
    assert found[-1].code == "unknown-names" and found[-1].message.startswith("50 more names")
    # elements too, and only the first ones are kept: the rest are counted
    flood = guest("    <frob/>\n" * 5000)
    counted = [f for f in augmenter.check(flood, EMBEDDED) if f.code == "unknown-names"]
    assert [(f.line, f.message.split(" more")[0]) for f in counted] == [
        (line_of(flood, "<frob/>") + MAX_REPORTED, "4900")]


# ---- nothing valid is reported -----------------------------------------------------------


def test_no_example_has_an_unknown_name() -> None:
    for path in example_inputs():
        assert name_findings(path.read_text()) == [], path.name


def test_no_generated_guest_has_an_unknown_name() -> None:
    for g in generated_guests():
        assert name_findings(g.xml) == [], g.seed


def test_what_augment_adds_has_no_unknown_name() -> None:
    """Every element and attribute augmenter writes is one libvirt knows where it is."""
    inputs = [(p.name, p.read_text()) for p in example_inputs()]
    inputs += [(f"seed {g.seed}", g.xml) for g in generated_guests()]
    for label, xml in inputs:
        root = augmenter.run(xml, EMBEDDED).tree.getroot()
        assert names_in(root) == [], label


def names_in(root: etree._Element) -> list[str]:
    from augmenter.checks.names import unknown_names

    return [f"{u.kind} {u.name} in {u.place}" for u in unknown_names(root).names]


# ---- the command ---------------------------------------------------------------------------


def augment(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AUGMENT, "--boards", "embedded", *args], capture_output=True,
                          text=True, cwd=cwd, check=False, timeout=120)


def test_augment_writes_its_output_and_warns(tmp_path: Path) -> None:
    xml = guest(DISK.format("      <adress type='pci' domain='0' bus='0' slot='5'/>\n"))
    (tmp_path / "g.xml").write_text(xml)
    done = augment("g.xml", cwd=tmp_path)
    assert done.returncode == 0 and "<adress" in done.stdout  # nothing is lost
    assert done.stderr.startswith(f"g.xml:{line_of(xml, 'adress')}:7: warning: disk vda: ")
    assert augment("--check", "g.xml", cwd=tmp_path).returncode == 0
    strict = augment("--check", "--strict", "g.xml", cwd=tmp_path)
    assert strict.returncode == 1 and "did you mean <address>?" in strict.stderr
    records = json.loads(augment("--check", "--format", "json", "g.xml", cwd=tmp_path).stdout)
    assert [r["code"] for r in records] == ["unknown-element"]


# ---- --schema ------------------------------------------------------------------------------


def test_schema_finds_nothing_in_a_valid_guest(domain_rng: etree.RelaxNG, tmp_path: Path) -> None:
    example = ROOT / "examples" / "q35-desktop.xml"
    done = augment("--check", "--schema", str(example), cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""


def test_schema_errors_name_the_device_that_breaks_it(domain_rng: etree.RelaxNG) -> None:
    xml = guest(DISK.format("      <address type='pci' domain='0' bus='0' slot='x5'/>\n")
                + "    <interface type='user'/>\n")
    found = [f for f in augmenter.check(xml, Options(boards="embedded", schema=True))
             if f.code == "schema"]
    assert [(f.severity, f.line) for f in found] == [("error", line_of(xml, "<disk"))]
    assert found[0].message == "<disk type='file'> does not match libvirt's schema"


def test_schema_reports_libxml2s_errors_at_their_lines(domain_rng: etree.RelaxNG) -> None:
    xml = guest("", head="  <memry unit='MiB'>256</memry>\n")
    found = [f for f in augmenter.check(xml, Options(boards="embedded", schema=True))
             if f.code == "schema"]
    assert [(f.line, f.message) for f in found] == [
        (line_of(xml, "memry"), "libvirt's schema: Element domain has extra content: memry")]


def test_schema_needs_check(tmp_path: Path) -> None:
    (tmp_path / "g.xml").write_text(guest(""))
    done = augment("--schema", "g.xml", cwd=tmp_path)
    assert done.returncode == 2 and "--schema works with --check" in done.stderr


def test_schema_missing_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "g.xml").write_text(guest(""))
    monkeypatch.setattr(schema, "SCHEMA", tmp_path / "none" / "domain.rng")
    status = execute(Request(files=[str(tmp_path / "g.xml")], check=True, schema=True,
                             boards="embedded", jobs=1))
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("augment: error: --schema needs libvirt's "
                                                   "RelaxNG schema")
    assert "apt-get install libvirt0" in err


# ---- libvirt's own verdict ------------------------------------------------------------------

# Each name, and the XPath that finds it in libvirt's dumpxml if libvirt kept it.
DROPPED = [
    ("vcpu placment", "/domain/vcpu[@placment]"),
    ("bootmenu enabel", "/domain/os/bootmenu[@enabel]"),
    ("adress", "//adress"),
    ("interfce", "//interfce"),
    ("address slott", "//address[@slott]"),
    ("pci address port", "//address[@type='pci'][@port]"),
    ("user interface source", "//interface[@type='user']/source[@network]"),
    ("controller foo", "//controller[@foo]"),
    ("video model fancy", "//video/model[@fancy]"),
    ("channel state", "//channel/target[@state]"),
    ("second disk driver", "//disk[count(driver) > 1]"),
]
DROPPING = guest(
    DISK.format("      <adress type='pci' domain='0' bus='0' slot='5'/>\n"
                "      <driver name='qemu' type='raw'/>\n      <driver name='qemu'/>\n")
    + "    <interfce type='user'/>\n"
    "    <interface type='user'>\n"
    "      <mac address='52:54:00:00:00:01'/>\n"
    "      <source network='default'/>\n"
    "      <address type='pci' domain='0' bus='0' slot='6' function='0' slott='6' port='2'/>\n"
    "    </interface>\n"
    "    <controller type='usb' model='qemu-xhci' foo='bar'/>\n"
    "    <channel type='unix'>\n"
    "      <target type='virtio' name='org.qemu.guest_agent.0' state='connectd'/>\n"
    "    </channel>\n"
    "    <video>\n      <model type='virtio' heads='1' fancy='yes'/>\n    </video>\n",
    head="  <vcpu placment='static'>1</vcpu>\n",
).replace("  </os>\n", "    <bootmenu enabel='yes'/>\n  </os>\n", 1)


def test_libvirt_accepts_and_drops_every_name_reported(tmp_path: Path) -> None:
    xml = DROPPING
    found = name_findings(xml)
    assert len(found) == len(DROPPED), found
    assert all(f.severity == "warning" for f in found)
    virsh = libvirt_or_skip()
    dumped = etree.fromstring(define_and_dump(virsh, xml, f"names-{os.getpid()}",
                                              tmp_path).encode())
    kept = [what for what, path in DROPPED if dumped.xpath(path)]
    assert kept == [], f"libvirt kept what --check says it drops: {kept}"


_LEAVES = ["<controller type='sata'/>", "<controller type='sata' slott='1'/>",
           "<controller type='usb' model='bogus'/>", "<controller type='usb' model='qemu-xhci'/>",
           "<input type='mouse' bus='ps2'/>", "<input type='mouse' bus='ps2' buss='usb'/>",
           "<controller type='sata'><adress/></controller>"]


@pytest.mark.parametrize("picks", [
    [0] * 5, [0, 0, 1, 1, 0, 1], [2, 2, 3, 3, 2], [4, 5, 5, 4, 4, 5], [0, 6, 0, 6, 6, 0],
    [1] * 130 + [0] * 3 + [5],
])
def test_alike_siblings_are_judged_alike(picks: list[int]) -> None:
    """The walk skips an empty element written as the one before it when that one had no
    unknown name: each element still gets the findings it gets alone."""
    from augmenter.checks.names import MAX_REPORTED, unknown_names

    def found(xml: str) -> list[tuple[str, str, int | None]]:
        root = etree.fromstring(xml)
        return [(u.kind, u.name, u.el.sourceline) for u in unknown_names(root).names]

    body = "\n".join(_LEAVES[i] for i in picks)
    together = found(f"<domain type='kvm'><devices>\n{body}\n</devices></domain>")
    alone = [(kind, name, line + k) for k, i in enumerate(picks)
             for kind, name, line in found(
                 f"<domain type='kvm'><devices>\n{_LEAVES[i]}\n</devices></domain>")
             if line is not None]
    assert together == alone[:MAX_REPORTED]


def test_names_are_judged_as_written_before_the_defaults_fill_indexes() -> None:
    """The names walk sees the document as written: alike controllers stay alike (each gets
    its own index only later), and a misspelt one among them is still found at its line."""
    body = "\n".join("<controller type='usb' model='qemu-xhci'/>" if k != 700 else
                     "<controller type='usb' model='qemu-xhci' prots='4'/>" for k in range(1500))
    xml = (f"<domain type='kvm'><name>n</name><memory>1</memory><os><type arch='x86_64' "
           f"machine='q35'>hvm</type></os><devices>\n{body}\n</devices></domain>")
    _, found = augmenter.pipeline.attempt(xml, Options(boards="embedded"))
    unknown = [(f.code, f.line) for f in found if f.code.startswith("unknown")]
    assert unknown == [("unknown-attribute", 702)]
