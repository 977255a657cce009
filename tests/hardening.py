"""Helpers for the hardening tests (issue 9): run ``augment`` as a process and measure it.

``run_measured`` reaps the child with ``os.wait4`` so that its own peak RSS and wall time are
known, and kills it past a deadline (a hang is a failure, not a stuck test run).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

AUGMENT = [sys.executable, "-m", "augmenter"]
EMBEDDED = [*AUGMENT, "--boards", "embedded"]  # no QEMU: fast and the same everywhere

# FILE:LINE[:COL]: error: message   (or FILE: error: when there is no line)
ERROR_LINE = re.compile(r"^(?P<file>[^\n]+?)(?::\d+)?(?::\d+)?: error: \S[^\n]*$")
# what a Python crash leaves on stderr (plain or rich traceback, a bare exception name)
PYTHON_CRASH = re.compile(r"Traceback|\b[A-Z][A-Za-z]*(?:Error|Exception)\b")


@dataclass
class Measured:
    returncode: int
    stdout: bytes
    stderr: str
    wall: float  # seconds
    maxrss_kb: int  # the child's own peak resident set (VmHWM, sampled every 2 ms)

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def child_env(cache_home: Path) -> dict[str, str]:
    """The environment for a child: a private board cache, no colours, C-ish locale."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home), "NO_COLOR": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONWARNINGS", None)
    return env


def _hwm_kb(pid: int) -> int:
    """The peak RSS of a running process's current image, from /proc (0 once it is gone).

    ``wait4``'s ``ru_maxrss`` is no good here: a child made by fork or vfork inherits the
    parent's high-water mark across ``exec``, so it would measure pytest, not ``augment``."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def run_measured(args: Sequence[str], *, stdin: Path | None = None, cwd: Path | None = None,
                 env: dict[str, str] | None = None, timeout: float = 60.0,
                 preexec: Callable[[], None] | None = None) -> Measured:
    """Run ``args`` to completion (killing it after ``timeout`` s); its output, time and RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        stdin_file = open(stdin, "rb") if stdin is not None else None  # noqa: SIM115
        try:
            start = time.monotonic()
            proc = subprocess.Popen(list(args), stdin=stdin_file or subprocess.DEVNULL,
                                    stdout=out, stderr=err, cwd=cwd, env=env,
                                    preexec_fn=preexec)
            peak_kb = 0
            while True:
                peak_kb = max(peak_kb, _hwm_kb(proc.pid))
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() - start > timeout:
                    os.kill(proc.pid, signal.SIGKILL)
                    os.wait4(proc.pid, 0)
                    proc.returncode = -9
                    raise AssertionError(f"{' '.join(args)} still running after {timeout} s")
                time.sleep(0.002)
            wall = time.monotonic() - start
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
        finally:
            if stdin_file is not None:
                stdin_file.close()
        out.seek(0)
        err.seek(0)
        return Measured(proc.returncode, out.read(), err.read().decode("utf-8", "replace"),
                        wall, peak_kb or usage.ru_maxrss)


def assert_one_clear_error(m: Measured, label: str, codes: Sequence[int] = (1, 2)) -> str:
    """Exit 1 or 2, nothing on stdout, exactly one ``LABEL[:LINE]: error: ...`` line and no
    traceback on stderr. Returns the line."""
    assert not PYTHON_CRASH.search(m.stderr), m.stderr[-2000:]
    assert m.returncode in codes, (m.returncode, m.stderr[-2000:])
    assert m.stdout == b"", m.stdout[:200]
    lines = m.stderr_lines
    assert len(lines) == 1, m.stderr[-2000:]
    match = ERROR_LINE.match(lines[0])
    assert match is not None and match["file"] == label, lines[0]
    assert len(lines[0]) < 400, lines[0]
    return lines[0]


# ---- guests -----------------------------------------------------------------------------------

DOMAIN = """<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>1024</memory>
  <os><type arch='x86_64' machine='{machine}'>hvm</type></os>
  <devices>
{devices}  </devices>
</domain>
"""


def large_guest(n_disks: int = 40, n_nics: int = 40, metadata_kib: int = 0) -> str:
    """A q35 guest with many devices that places fine (and optional bulky metadata)."""
    devs = []
    for i in range(n_disks):
        name = "vd" + (chr(97 + i) if i < 26 else chr(96 + i // 26) + chr(97 + i % 26))
        devs.append(f"    <disk type='file' device='disk'><source file='/img/{i}.qcow2'/>"
                    f"<target dev='{name}' bus='virtio'/></disk>\n")
    for i in range(n_nics):
        devs.append(f"    <interface type='network'><mac address='52:54:00:00:{i // 256:02x}:"
                    f"{i % 256:02x}'/><source network='default'/><model type='virtio'/>"
                    "</interface>\n")
    xml = DOMAIN.format(name="large", machine="q35", devices="".join(devs))
    if metadata_kib:
        blob = ("<m:note xmlns:m='urn:example:meta'>" + "lorem ipsum " * (metadata_kib * 85)
                + "</m:note>")
        xml = xml.replace("  <memory", f"  <metadata>{blob}</metadata>\n  <memory", 1)
    return xml


# ---- probes (issue 18): every run ends with a status, at most one line, nothing left over ----

PROBE_WALL_S = 10.0  # issue 18: every probe ends within 10 s (a hang is killed and fails)
BOARDS = [str(Path(sys.executable).with_name("augment-boards"))]  # the installed command


def probe(args: Sequence[str], folder: Path, *, stdin: Path | None = None,
          env: dict[str, str] | None = None, preexec: Callable[[], None] | None = None,
          timeout: float = PROBE_WALL_S) -> Measured:
    """Run one command in ``folder`` (its own board cache, no colours); killed after
    ``timeout`` seconds, which fails the test."""
    return run_measured(list(args), stdin=stdin, cwd=folder,
                        env=env if env is not None else child_env(folder / ".cache-home"),
                        timeout=timeout, preexec=preexec)


def assert_clean_end(m: Measured, codes: Sequence[int] = (0, 1, 2), lines: int = 1) -> None:
    """The probe's promise: a status in ``codes``, no traceback, at most ``lines`` lines on
    stderr, each of them one printable line."""
    assert not PYTHON_CRASH.search(m.stderr), m.stderr[-2000:]
    assert m.returncode in codes, (m.returncode, m.stderr[-2000:])
    assert len(m.stderr_lines) <= lines, m.stderr[-2000:]
    for line in m.stderr_lines:
        assert len(line) < 1000 and not CONTROL.search(line), repr(line)


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def listing(folder: Path) -> set[str]:
    """Every name under ``folder`` (relative), the probe's own board cache left out."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")
            if ".cache-home" not in p.relative_to(folder).parts}


def closed_stdout() -> None:
    """preexec: the child starts with file descriptor 1 closed (``>&-``)."""
    os.close(1)


def closed_stdin() -> None:
    """preexec: the child starts with file descriptor 0 closed (``<&-``)."""
    os.close(0)


def full_stdout() -> None:
    """preexec: the child's standard output is ``/dev/full`` (every write fails, ENOSPC)."""
    fd = os.open("/dev/full", os.O_WRONLY)
    os.dup2(fd, 1)
    os.close(fd)
