"""Untrusted definitions run nothing (issue 18, Build 4).

A domain file's ``<emulator>`` is executed only when it is a known QEMU: an absolute path whose
real path is in one of the system's binary folders and whose name is a QEMU's
(``qemu-system-*``, ``qemu-kvm``, ``kvm``), or a path the user allowed (``--allow-emulator``,
``AUGMENTER_EMULATORS``). Anything else (a relative path, a bare name, a script in a folder
anyone may have written, ``/usr/bin/touch``) is never run: the board comes from the cache or
the shipped table, with a warning. ``--check`` and ``--explain`` follow the same rule.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hardening import EMBEDDED, assert_clean_end, child_env, probe
from qemu_env import need_qemu, write_script

from augmenter.boards.trust import refusal

AUTO = [*EMBEDDED[:-2], "--boards", "auto"]
GUEST = """<domain type='kvm'>
  <name>g</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <emulator>{emulator}</emulator>
    <interface type='user'><model type='virtio'/></interface>
  </devices>
</domain>
"""


def _planted(tmp_path: Path) -> Path:
    """A 'QEMU' that leaves a mark when it runs, in the folder the guest is in."""
    write_script(tmp_path / "qemu-system-x86_64", f"touch '{tmp_path}/ran'\nexit 1\n")
    return tmp_path / "ran"


EMULATORS = {
    "relative": "./qemu-system-x86_64",
    "relative-in-folder": "sub/../qemu-system-x86_64",
    "bare-name": "qemu-system-x86_64",
    "absolute-outside-system-folders": "{tmp}/qemu-system-x86_64",
    "dot-dot-out-of-usr-bin": "/usr/bin/../..{tmp}/qemu-system-x86_64",
}


@pytest.mark.parametrize("mode", [[], ["--check"], ["--explain"]])
@pytest.mark.parametrize("kind", sorted(EMULATORS))
def test_an_emulator_that_is_not_a_known_qemu_is_not_run(kind: str, mode: list[str],
                                                         tmp_path: Path) -> None:
    mark = _planted(tmp_path)
    (tmp_path / "sub").mkdir()
    env = child_env(tmp_path / ".cache-home")
    env["PATH"] = f"{tmp_path}{os.pathsep}{env['PATH']}"  # even where PATH would find it
    emulator = EMULATORS[kind].format(tmp=tmp_path)
    (tmp_path / "g.xml").write_text(GUEST.format(emulator=emulator))
    m = probe([*AUTO, *mode, "g.xml"], tmp_path, env=env)
    assert not mark.exists(), f"{emulator} was run"
    assert_clean_end(m, codes=(0,))
    (warning,) = m.stderr_lines
    assert warning.startswith("augment: warning:") and "not run" in warning, warning
    assert "--allow-emulator" in warning, warning


@pytest.mark.parametrize("program", ["/usr/bin/touch", "/bin/sh", "/usr/bin/env"])
def test_a_system_program_that_is_not_a_qemu_is_not_run(program: str, tmp_path: Path) -> None:
    """A system folder is not enough: ``/bin/sh -machine none ...`` is not a QEMU."""
    (tmp_path / "g.xml").write_text(GUEST.format(emulator=program))
    m = probe([*AUTO, "g.xml"], tmp_path)
    assert_clean_end(m, codes=(0,))
    assert "not run" in m.stderr, m.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".cache-home") == ["g.xml"]


def test_boards_qemu_refuses_an_untrusted_emulator(tmp_path: Path) -> None:
    mark = _planted(tmp_path)
    (tmp_path / "g.xml").write_text(GUEST.format(emulator=tmp_path / "qemu-system-x86_64"))
    m = probe([*EMBEDDED[:-2], "--boards", "qemu", "g.xml"], tmp_path)
    assert_clean_end(m, codes=(1,))
    assert not mark.exists()
    assert "--allow-emulator" in m.stderr


def test_an_allowed_emulator_is_run_from_the_environment(tmp_path: Path) -> None:
    mark = _planted(tmp_path)
    emulator = str(tmp_path / "qemu-system-x86_64")
    (tmp_path / "g.xml").write_text(GUEST.format(emulator=emulator))
    env = child_env(tmp_path / ".cache-home")
    env["AUGMENTER_EMULATORS"] = emulator
    m = probe([*AUTO, "g.xml"], tmp_path, env=env)
    assert_clean_end(m, codes=(0,))
    assert mark.exists()  # it ran, failed, and the table answered with a warning


def test_an_allowed_emulator_is_run_from_the_option(tmp_path: Path) -> None:
    mark = _planted(tmp_path)
    emulator = str(tmp_path / "qemu-system-x86_64")
    (tmp_path / "g.xml").write_text(GUEST.format(emulator=emulator))
    m = probe([*AUTO, "--allow-emulator", emulator, "g.xml"], tmp_path)
    assert_clean_end(m, codes=(0,))
    assert mark.exists()


def test_the_system_qemu_is_run(tmp_path: Path) -> None:
    qemu = need_qemu()
    if not qemu.startswith(("/usr/bin/", "/bin/", "/usr/local/bin/")):
        pytest.fail(f"{qemu} is not in a system folder")
    (tmp_path / "g.xml").write_text(GUEST.format(emulator=qemu))
    m = probe([*EMBEDDED[:-2], "--boards", "qemu", "g.xml"], tmp_path, timeout=60)
    assert_clean_end(m, codes=(0,), lines=0)
    assert list((tmp_path / ".cache-home").rglob("catalogue.json"))  # QEMU was asked


def test_a_relative_path_on_path_is_not_run(tmp_path: Path) -> None:
    """Without ``<emulator>``, ``qemu-system-ARCH`` is looked up on PATH; a relative PATH
    entry (``bin``, or an empty one meaning the working folder) is not trusted either."""
    (tmp_path / "bin").mkdir()
    write_script(tmp_path / "bin" / "qemu-system-x86_64", f"touch '{tmp_path}/ran'\nexit 1\n")
    (tmp_path / "g.xml").write_text(GUEST.replace("<emulator>{emulator}</emulator>", ""))
    env = child_env(tmp_path / ".cache-home")
    env["PATH"] = f"bin{os.pathsep}{env['PATH']}"
    m = probe([*AUTO, "g.xml"], tmp_path, env=env)
    assert_clean_end(m, codes=(0,))
    assert not (tmp_path / "ran").exists()


def test_the_policy_is_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "## Security" in readme
    section = readme.split("## Security", 1)[1].split("\n## ", 1)[0]
    for words in ("<emulator>", "--allow-emulator", "AUGMENTER_EMULATORS", "symbolic link",
                  "hard link", "--force"):
        assert words in section, words


@pytest.mark.parametrize("name, runs", [
    ("qemu-system-x86_64", True), ("qemu-system-x86_64-microvm", True), ("qemu-kvm", True),
    ("qemu-system-x86_64-a-b", False), ("qemu-system-", False), ("qemu-system-x86_64-", False),
])
def test_a_qemu_build_variant_is_a_qemu(name: str, runs: bool) -> None:
    """Debian's KVM-only ``qemu-system-x86_64-microvm`` is a QEMU like the others: its boards
    (and that it has no TCG) come from it, not from the x86_64 table."""
    assert (refusal(f"/usr/bin/{name}") is None) is runs
