"""QEMU's processes and output are bounded (issue 18, item 16 and Build 6).

QEMU runs in its own process group and the whole group is killed when it hangs, fails or is
done: a fake emulator's children used to survive (one wrote 6 GB in 20 s into augment's
deleted stderr file). What it prints is read up to a bound, and a monitor line larger than
qemu.qmp's buffer (a 200 MB QMP reply) costs a bounded amount of memory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hardening import BOARDS, assert_clean_end, child_env, probe
from qemu_env import write_script


def _gone(pid: int) -> bool:
    """Whether ``pid`` has ended (a zombie waiting for init counts as ended)."""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(autouse=True)
def no_stray_children(tmp_path: Path) -> Iterator[None]:
    """Whatever a test's fake QEMU left running is killed afterwards."""
    yield
    child = tmp_path / "child"
    if child.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(child.read_text()), signal.SIGKILL)


def _show(tmp_path: Path, emulator: str, timeout: str = "1") -> None:
    m = probe([*BOARDS, "show", "q35", "--emulator", emulator, "--boards", "qemu",
               "--timeout", timeout], tmp_path, timeout=20)
    assert_clean_end(m, codes=(1,))
    assert m.stderr.startswith("augment-boards: error:"), m.stderr


def test_the_children_of_a_qemu_that_hangs_are_killed(tmp_path: Path) -> None:
    fake = write_script(tmp_path / "qemu-system-x86_64", (
        "(while :; do echo spam >&2; done) &\n"
        f"echo $! > '{tmp_path}/child'\n"
        "exec sleep 60\n"))
    _show(tmp_path, fake)
    assert _gone(int((tmp_path / "child").read_text()))


def test_the_children_of_a_qemu_that_fails_are_killed(tmp_path: Path) -> None:
    fake = write_script(tmp_path / "qemu-system-x86_64", (
        "sleep 60 &\n"
        f"echo $! > '{tmp_path}/child'\n"
        "echo 'qemu-system-x86_64: no' >&2\n"
        "exit 1\n"))
    _show(tmp_path, fake)
    assert _gone(int((tmp_path / "child").read_text()))


@pytest.mark.slow  # a fake QEMU prints megabytes
def test_what_a_qemu_prints_is_bounded(tmp_path: Path) -> None:
    """A QEMU that prints without end (2 GB in the 5 s it may take) is stopped, and what
    augment keeps of it is a few kilobytes: the run's peak memory and its temporary files stay
    small."""
    fake = write_script(tmp_path / "qemu-system-x86_64", (
        f"exec {sys.executable} -c \"import sys\nblock = b'x' * (1 << 20)\n"
        "while True: sys.stderr.buffer.write(block)\"\n"))
    env = child_env(tmp_path / ".cache-home")
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    m = probe([*BOARDS, "show", "q35", "--emulator", fake, "--boards", "qemu", "--timeout", "3"],
              tmp_path, env=env, timeout=20)
    assert_clean_end(m, codes=(1,))
    assert m.maxrss_kb < 150 * 1024, m.maxrss_kb
    used = sum(p.stat().st_size for p in (tmp_path / "tmp").rglob("*") if p.is_file())
    assert used < 1 << 20, used
    assert len(m.stderr) < 4000


FAKE_HUGE_REPLY = r'''
import json, os, re, socket, sys

sys.stderr = open(os.devnull, "w")  # augment hangs up mid-line: that is the point

fd = int(re.search(r"fd=(\d+)", " ".join(sys.argv)).group(1))
sock = socket.socket(fileno=fd)
sock.sendall(json.dumps({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0},
             "package": ""}, "capabilities": []}}).encode() + b"\n")
buf = b""
while b"qmp_capabilities" not in buf:
    buf += sock.recv(4096)
sock.sendall(b'{"return": {}, "id": "__qmp#00000"}\n')
chunk = b"x" * (1 << 20)
sock.sendall(b'{"return": "')
for _ in range(200):
    sock.sendall(chunk)
sock.sendall(b'"}\n')
sock.recv(1)
'''


def test_a_200_mb_monitor_line_costs_bounded_memory(tmp_path: Path) -> None:
    program = tmp_path / "fake.py"
    program.write_text(FAKE_HUGE_REPLY)
    fake = write_script(tmp_path / "qemu-system-x86_64",
                        f'exec "{sys.executable}" "{program}" "$@"\n')
    m = probe([*BOARDS, "show", "q35", "--emulator", fake, "--boards", "qemu", "--timeout", "8"],
              tmp_path, timeout=30)
    assert_clean_end(m, codes=(1,))
    assert m.maxrss_kb < 150 * 1024, f"{m.maxrss_kb // 1024} MB"
    assert not os.path.exists(tmp_path / "core")
