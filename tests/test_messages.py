"""Output never lies (issue 18, items 4 and 13, Build 3): whatever a document, a file name, a
cache entry or another program puts into a message, it is printed as one line, its control
characters escaped, so that no input can forge a second error line, rewrite the terminal's
line (a carriage return), or send the terminal escape codes, and no text is read as markup.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hardening import (
    BOARDS,
    CONTROL,
    EMBEDDED,
    assert_clean_end,
    child_env,
    probe,
)
from qemu_env import need_qemu, write_script

# a disk on q35's ICH9-LPC slot: errors that name the disk by its target
FORGED = """<domain type='kvm'>
  <name>forged</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/img/a.qcow2'/>
      <target dev='vda{evil}' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x1f' function='0x0'/>
    </disk>
  </devices>
</domain>
"""
# what a value may carry in XML 1.0: line feed, carriage return, C1 controls (U+009B is the
# 8-bit CSI), Unicode's line and paragraph separators
EVIL = {
    "line-feed": "&#10;evil.xml:99:1: error: forged",
    "carriage-return": "&#13;evil.xml:99:1: error: forged",
    "csi": "&#x9b;31mred&#x9b;0m",
    "nel": "&#x85;evil.xml:99:1: error: forged",
    "line-separator": "&#x2028;evil.xml:99:1: error: forged",
}


def _no_forgery(stream: str) -> None:
    assert not CONTROL.search(stream.replace("\n", "")), repr(stream)
    for line in stream.splitlines():
        assert not line.startswith("evil.xml"), repr(stream)


@pytest.mark.parametrize("args", [[], ["--check"], ["--explain"]])
@pytest.mark.parametrize("evil", sorted(EVIL))
def test_a_value_cannot_forge_an_error_line(evil: str, args: list[str], tmp_path: Path) -> None:
    (tmp_path / "g.xml").write_text(FORGED.format(evil=EVIL[evil]))
    m = probe([*EMBEDDED, *args, "g.xml"], tmp_path)
    assert_clean_end(m, codes=(1,), lines=2)  # the disk's target, then its address
    assert m.stderr_lines and m.stderr_lines[0].startswith("g.xml:8:"), m.stderr
    _no_forgery(m.stderr)
    _no_forgery(m.stdout.decode())


def test_json_findings_keep_the_value_exactly(tmp_path: Path) -> None:
    """JSON escapes control characters itself: there the value is given whole, not escaped."""
    (tmp_path / "g.xml").write_text(FORGED.format(evil=EVIL["line-feed"]))
    m = probe([*EMBEDDED, "--check", "--format", "json", "g.xml"], tmp_path)
    assert m.returncode == 1 and m.stderr == ""
    findings = json.loads(m.stdout)
    assert findings and all("vda\nevil.xml:99:1: error: forged" in f["message"]
                            for f in findings)


def test_a_file_name_cannot_forge_an_error_line(tmp_path: Path) -> None:
    name = "g\nevil.xml:1:1: error: forged\r.xml"
    (tmp_path / name).write_text("<domain>")
    m = probe([*EMBEDDED, name], tmp_path)
    assert_clean_end(m, codes=(1,))
    _no_forgery(m.stderr)


def _fake_qemu_on_path(tmp_path: Path, body: str) -> dict[str, str]:
    """An environment whose PATH finds a fake ``qemu-system-x86_64`` first."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_script(bin_dir / "qemu-system-x86_64", body)
    env = child_env(tmp_path / ".cache-home")
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


GOOD = ("<domain type='kvm'><name>g</name><memory>65536</memory>"
       "<os><type arch='x86_64' machine='q35'>hvm</type>"
        "</os><devices/></domain>\n")


def test_what_qemu_says_is_escaped(tmp_path: Path) -> None:
    """A QEMU that fails prints its reason on stderr; augment quotes it in its warning."""
    env = _fake_qemu_on_path(tmp_path, "printf '\\033]0;owned\\007\\033[31mred\\r\\n' >&2\n"
                                       "echo 'evil.xml:1:1: error: forged' >&2\nexit 1\n")
    (tmp_path / "g.xml").write_text(GOOD)
    m = probe([*AUGMENT_AUTO, "g.xml"], tmp_path, env=env)
    assert_clean_end(m, codes=(0,))
    assert "warning" in m.stderr
    _no_forgery(m.stderr)


AUGMENT_AUTO = [*EMBEDDED[:-2], "--boards", "auto"]


def test_a_cached_error_is_escaped(tmp_path: Path) -> None:
    """A failure remembered in the cache is printed as safely as a fresh one."""
    env = _fake_qemu_on_path(tmp_path, "exit 1\n")
    (tmp_path / "g.xml").write_text(GOOD)
    first = probe([*AUGMENT_AUTO, "g.xml"], tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    (entry,) = (tmp_path / ".cache-home").rglob("catalogue.json")
    doc = json.loads(entry.read_text())
    doc["data"]["error"] = "\x1b]0;owned\x07\x1b[31mred\r\nevil.xml:1:1: error: forged"
    entry.write_text(json.dumps(doc))
    m = probe([*AUGMENT_AUTO, "g.xml"], tmp_path, env=env)
    assert_clean_end(m, codes=(0,))
    _no_forgery(m.stderr)


def test_what_dot_says_is_escaped(tmp_path: Path) -> None:
    env = child_env(tmp_path / ".cache-home")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_script(bin_dir / "dot", "printf '\\033[31mred\\r\\nevil.xml:1:1: error: x\\n' >&2\n"
                                  "exit 3\n")
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    (tmp_path / "g.xml").write_text(GOOD)
    m = probe([*EMBEDDED, "--graph", "t.svg", "g.xml"], tmp_path, env=env)
    assert_clean_end(m, codes=(1,))
    assert "dot" in m.stderr
    _no_forgery(m.stderr)


def test_boards_show_prints_an_emulator_path_as_written(tmp_path: Path) -> None:
    """``[/i]`` in a path is text, not rich's markup for the end of italics."""
    qemu = need_qemu()
    odd = tmp_path / "x[/i]" / "[bold]"
    odd.mkdir(parents=True)
    (odd / "qemu-system-x86_64").symlink_to(qemu)
    m = probe([*BOARDS, "show", "q35", "--emulator", str(odd / "qemu-system-x86_64")],
              tmp_path, timeout=30)
    assert_clean_end(m, codes=(0,), lines=0)
    assert f"{odd}/qemu-system-x86_64".encode() in m.stdout
