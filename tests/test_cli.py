"""The ``augment`` command as a user and a hook see it: streams, files, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GOOD = """<domain type='kvm'>
  <name>cli</name><memory unit='MiB'>256</memory>
  <!-- kept -->
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <disk type='file'><source file='/x.qcow2'/><target dev='vda' bus='virtio'/></disk>
  </devices>
</domain>
"""
BAD = GOOD.replace("bus='virtio'", "bus='ide'")


def augment(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    return subprocess.run([sys.executable, "-m", "augmenter", "--boards", "embedded", *args],
                          input=stdin, capture_output=True, text=True, env=env, timeout=60)


def test_stdin_to_stdout() -> None:
    p = augment("-", stdin=GOOD)
    assert p.returncode == 0, p.stderr
    assert "<!-- kept -->" in p.stdout and "pcie-root-port" in p.stdout


def test_a_bad_placement_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "bad.xml"
    src.write_text(BAD)
    p = augment(str(src))
    assert p.returncode == 1
    assert p.stdout == ""
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{src}:6")
    assert ": error: " in lines[0]


def test_not_a_domain_is_an_error_not_a_traceback() -> None:
    p = augment("-", stdin="<network/>")
    assert p.returncode == 1
    assert "expected <domain>" in p.stderr and "Traceback" not in p.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert augment("--no-such-option", "x.xml").returncode == 2
    assert augment(str(tmp_path / "missing.xml")).returncode == 2


def test_output_file_is_written(tmp_path: Path) -> None:
    src, out = tmp_path / "in.xml", tmp_path / "out.xml"
    src.write_text(GOOD)
    assert augment(str(src), "-o", str(out)).returncode == 0
    assert "pcie-root-port" in out.read_text()
    assert src.read_text() == GOOD


def test_in_place_rewrites_and_a_failure_leaves_the_file_untouched(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.xml", tmp_path / "bad.xml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    assert augment("--in-place", str(good)).returncode == 0
    assert "pcie-root-port" in good.read_text()
    assert augment("--in-place", str(bad)).returncode == 1
    assert bad.read_text() == BAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.xml", "good.xml"]


def test_many_inputs_into_a_folder(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text(GOOD)
    (tmp_path / "b.xml").write_text(GOOD.replace("cli", "cli2"))
    out = tmp_path / "out"
    out.mkdir()
    p = augment(str(tmp_path / "a.xml"), str(tmp_path / "b.xml"), "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert sorted(x.name for x in out.iterdir()) == ["a.xml", "b.xml"]


def test_explain_lists_the_devices() -> None:
    p = augment("--explain", "-", stdin=GOOD)
    assert p.returncode == 0, p.stderr
    assert "disk vda" in p.stdout
