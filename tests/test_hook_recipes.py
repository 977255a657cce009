"""The README's "Use as a pre-define hook" recipes, run as written against a real libvirtd.

The code blocks are read from README.md itself, so the recipes a user copies are the ones
tested: a good guest is defined, a bad one is not (and the user sees augment's error), and the
repository recipe augments every file in place.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from libvirt_env import libvirt_or_skip, missing, run_prefix

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SECTION = re.compile(r"^## Use as a pre-define hook\n(.*?)^## ", re.M | re.S)
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.M | re.S)

GUEST = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/{name}.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='user'><model type='virtio'/></interface>
  </devices>
</domain>
"""
# a PCI address the q35 board's LPC bridge holds: augment refuses it, at its line
BAD = GUEST.replace("<target dev='vda' bus='virtio'/>",
                    "<target dev='vda' bus='virtio'/>\n      <address type='pci' domain='0' "
                    "bus='0' slot='0x1f' function='0'/>")


def recipes() -> list[tuple[str, str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = SECTION.search(readme)
    assert section, "README.md has no 'Use as a pre-define hook' section"
    return BLOCK.findall(section.group(1))


def shell_recipes() -> list[str]:
    return [code for lang, code in recipes() if lang == "sh" and "virsh define" in code]


def env() -> dict[str, str]:
    """augment on PATH (this interpreter's environment), boards from the shipped table."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
            "LIBVIRT_DEFAULT_URI": "qemu:///system"}


def defined(name: str) -> bool:
    virsh = libvirt_or_skip()
    return name in virsh("list", "--all", "--name").split()


def undefine(name: str) -> None:
    libvirt_or_skip().cleanup(name)


def test_the_readme_has_the_three_recipes() -> None:
    langs = [lang for lang, _ in recipes()]
    assert len(shell_recipes()) == 2 and "python" in langs
    assert any("--in-place" in code for lang, code in recipes() if lang == "sh")


@pytest.mark.parametrize("index", [0, 1], ids=["pipefail", "read-first"])
def test_a_shell_recipe_defines_a_good_guest_and_refuses_a_bad_one(index: int,
                                                                  tmp_path: Path) -> None:
    libvirt_or_skip()
    code = shell_recipes()[index]
    for text, ok in ((GUEST, True), (BAD, False)):
        name = f"{run_prefix()}hook-sh{index}-{'good' if ok else 'bad'}"
        (tmp_path / "guest.xml").write_text(text.format(name=name))
        try:
            p = subprocess.run(["bash", "-e", "-c", code], cwd=tmp_path, env=env(),
                               capture_output=True, text=True, timeout=120)
            assert (p.returncode == 0) == ok, p.stderr
            assert defined(name) == ok
            if not ok:
                assert re.search(r"guest\.xml:\d+:\d+: error: .*0000:00:1f\.0", p.stderr), \
                    p.stderr
        finally:
            undefine(name)


def test_the_python_recipe_defines_a_good_guest_and_refuses_a_bad_one(tmp_path: Path) -> None:
    libvirt_or_skip()
    try:
        import libvirt  # noqa: F401
    except ImportError:
        missing("libvirt-python not installed (scripts/test.sh installs the test extra)")
    code = next(code for lang, code in recipes() if lang == "python")
    for text, ok in ((GUEST, True), (BAD, False)):
        name = f"{run_prefix()}hook-py-{'good' if ok else 'bad'}"
        (tmp_path / "guest.xml").write_text(text.format(name=name))
        try:
            p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env(),
                               capture_output=True, text=True, timeout=120)
            assert (p.returncode == 0) == ok, p.stderr
            assert defined(name) == ok
            if ok:
                assert p.stdout.strip() == f"{name} defined"
            else:
                assert re.match(r"guest\.xml:\d+: error: ", p.stderr), p.stderr
        finally:
            undefine(name)


def test_the_repository_recipe_augments_every_file_in_place(tmp_path: Path) -> None:
    code = next(code for lang, code in recipes() if lang == "sh" and "--in-place" in code)
    guests = tmp_path / "guests"
    guests.mkdir()
    for i in range(3):
        (guests / f"g{i}.xml").write_text(GUEST.format(name=f"repo-{i}"))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "guests"], ["commit", "-qm", "guests"]):
        subprocess.run([*git, *args], cwd=tmp_path, check=True, capture_output=True)
    p = subprocess.run(["bash", "-e", "-c", code], cwd=tmp_path, env=env(),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "3 files changed" in p.stdout
    for i in range(3):
        assert "pcie-root-port" in (guests / f"g{i}.xml").read_text()
    # a bad file: the check fails first, and nothing is rewritten
    subprocess.run([*git, "checkout", "-q", "--", "guests"], cwd=tmp_path, check=True)
    (guests / "g1.xml").write_text(BAD.format(name="repo-1"))
    before = {f.name: f.read_bytes() for f in guests.iterdir()}
    p = subprocess.run(["bash", "-e", "-c", code], cwd=tmp_path, env=env(),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1
    assert "g1.xml:" in p.stderr and ": error: " in p.stderr
    assert {f.name: f.read_bytes() for f in guests.iterdir()} == before
