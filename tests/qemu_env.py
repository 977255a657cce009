"""QEMU for the board tests: the real binaries, and fake ones that fail in chosen ways.

``need_qemu("qemu-system-x86_64")`` returns the binary's path; without it the test is skipped
with the package to install, or fails when the environment variable ``CI`` is set (CI installs
every package, so a missing one is a broken set-up, not a reason to skip).

The fakes are small shell scripts standing in for ``qemu-system-*``: one that exits with an
error message, one that hangs, one that speaks QMP for a few commands and then is killed.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import pytest

PACKAGES = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-system-i386": "qemu-system-x86",
    "qemu-system-aarch64": "qemu-system-arm",
    "qemu-system-arm": "qemu-system-arm",
    "qemu-system-ppc64": "qemu-system-ppc",
    "qemu-system-riscv64": "qemu-system-misc",
    "qemu-system-s390x": "qemu-system-s390x",
}


def missing(what: str) -> NoReturn:
    """Skip, or fail under CI, where every package must be installed."""
    if os.environ.get("CI"):
        pytest.fail(f"{what}; CI must install it (scripts/test.sh does)", pytrace=False)
    pytest.skip(what)


def need_qemu(name: str = "qemu-system-x86_64") -> str:
    path = shutil.which(name)
    if path is None:
        missing(f"{name} not found on PATH (Debian package {PACKAGES.get(name, 'qemu-system')})")
    return path


def write_script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def fake_exits(folder: Path, message: str = "unsupported machine type", status: int = 1) -> str:
    """A QEMU that refuses its arguments; each run appends a line to ``runs`` beside it."""
    return write_script(folder / "qemu-system-exits", (
        f'echo run >> "{folder}/runs"\n'
        f'echo "qemu-system-x86_64: {message}" >&2\n'
        "echo 'Use -machine help to list supported machines' >&2\n"
        f"exit {status}\n"))


def fake_hangs(folder: Path) -> str:
    """A QEMU that never answers; its pid is written to ``pid`` beside it."""
    return write_script(folder / "qemu-system-hangs", (
        f'echo run >> "{folder}/runs"\n'
        f'echo $$ > "{folder}/pid"\n'
        "exec sleep 60\n"))


FAKE_QMP = r'''
import json, os, re, signal, socket, sys

fd = int(re.search(r"fd=(\d+)", " ".join(sys.argv)).group(1))
sock = socket.socket(fileno=fd)


def send(obj, msg=None):
    if msg is not None and "id" in msg:
        obj["id"] = msg["id"]
    sock.sendall(json.dumps(obj).encode() + b"\n")


def messages():
    """QMP clients send JSON objects back to back, not lines."""
    buf, decoder = "", json.JSONDecoder()
    while chunk := sock.recv(65536):
        buf += chunk.decode()
        while buf.strip():
            try:
                msg, end = decoder.raw_decode(buf.lstrip())
            except ValueError:
                break
            buf = buf.lstrip()[end:]
            yield msg


send({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": ""},
              "capabilities": []}})
answered = 0
for msg in messages():
    if msg["execute"] == "qmp_capabilities":
        send({"return": {}}, msg)
        continue
    if answered >= DIE_AFTER:
        os.kill(os.getpid(), signal.SIGKILL)
    answered += 1
    reply = [] if msg["execute"] in ("qom-list", "qom-list-types", "query-pci",
                                      "query-machines") else ""
    send({"return": reply}, msg)
'''


def fake_dies(folder: Path, after: int = 3) -> str:
    """A QEMU that answers ``after`` commands (with empty replies) and is then SIGKILLed."""
    program = folder / "fake_qmp.py"
    program.write_text(FAKE_QMP.replace("DIE_AFTER", str(after)))
    return write_script(folder / "qemu-system-dies", (
        f'echo run >> "{folder}/runs"\n'
        f'exec "{sys.executable}" "{program}" "$@"\n'))


def runs(folder: Path) -> int:
    """How many times the fakes in ``folder`` were started."""
    f = folder / "runs"
    return len(f.read_text().splitlines()) if f.exists() else 0


def fake_babbles(folder: Path) -> str:
    """A QEMU whose QMP replies are all empty strings: not what a real one says."""
    program = folder / "fake_qmp.py"
    program.write_text(FAKE_QMP.replace("DIE_AFTER", "1000"))
    return write_script(folder / "qemu-system-babbles",
                        f'exec "{sys.executable}" "{program}" "$@"\n')
