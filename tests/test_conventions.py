"""``augment`` behaves like the Unix filters people already use (issue 13).

Each test runs the installed command as a separate process, the way a shell, a hook or a
script sees it: exit status, standard output and standard error.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from augmenter.cli.files import EXCLUSIVE, SPELLING

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "q35-desktop.xml"
AUGMENT = [sys.executable, "-m", "augmenter"]
BOARDS = [sys.executable, "-c", "from augmenter.cli.boards import main; main()"]
ANSI = re.compile(r"\x1b\[")

GOOD = """<domain type='kvm'>
  <name>conventions</name><memory unit='MiB'>256</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <disk type='file'><source file='/x.qcow2'/><target dev='vda' bus='virtio'/></disk>
  </devices>
</domain>
"""


def run(*args: str, stdin: bytes | None = b"", env: dict[str, str] | None = None,
        command: list[str] = AUGMENT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command, *args], input=stdin.decode() if stdin is not None else None,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def augment(*args: str, stdin: bytes | None = b"",
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run("--boards", "embedded", *args, stdin=stdin, env=env)


def on_a_terminal(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``augment`` with a pseudo-terminal as stdin, stdout and stderr: (status, output)."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([*AUGMENT, "--boards", "embedded", *args], stdin=follower,
                                stdout=follower, stderr=follower, close_fds=True,
                                env={**os.environ, "COLUMNS": "100", **(env or {})})
        os.close(follower)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        status = proc.wait(timeout=120)
    finally:
        os.close(leader)
    return status, b"".join(chunks).decode("utf-8", "replace")


# ---- --version ---------------------------------------------------------------------------------


def test_version_names_the_package_and_the_board_table() -> None:
    from augmenter import __version__

    p = run("--version")
    assert p.returncode == 0, p.stderr
    line = p.stdout.strip()
    assert line.startswith(f"augment {__version__} (")
    assert "board table format" in line and "QEMU 7.2" in line
    assert "\n" not in line


# ---- standard input ----------------------------------------------------------------------------


def test_no_file_with_a_pipe_reads_standard_input() -> None:
    p = augment(stdin=EXAMPLE.read_bytes())
    assert p.returncode == 0, p.stderr
    assert p.stdout == augment(str(EXAMPLE)).stdout
    assert "pcie-root-port" in p.stdout


def test_no_file_from_a_terminal_is_a_usage_error_not_a_wait() -> None:
    status, out = on_a_terminal()
    assert status == 2, out
    assert "no input" in out


def test_dash_o_dash_is_standard_output(tmp_path: Path) -> None:
    p = subprocess.run([*AUGMENT, "--boards", "embedded", str(EXAMPLE), "-o", "-"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout == augment(str(EXAMPLE)).stdout
    assert list(tmp_path.iterdir()) == []  # no file named '-'


def test_an_existing_folder_as_output_gets_the_input_name(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    p = augment(str(EXAMPLE), "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert (out / EXAMPLE.name).read_text() == augment(str(EXAMPLE)).stdout


def test_standard_input_into_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    p = augment("-", "-o", str(tmp_path), stdin=GOOD.encode())
    assert p.returncode == 2
    assert "standard input has no name" in p.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_write_error_names_the_path(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "folder" / "out.xml"
    p = augment(str(EXAMPLE), "-o", str(target))
    assert p.returncode == 1
    assert str(target) in p.stderr and "cannot write" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


# ---- options that cannot work together ---------------------------------------------------------

VALUES = {"output": ["-o", "out.xml"], "in_place": ["--in-place"], "check": ["--check"],
          "explain": ["--explain"], "graph": ["--graph", "t.svg"], "verify": ["--verify"],
          "connect": ["-c", "test:///default"]}


@pytest.mark.parametrize(("one", "other"), EXCLUSIVE, ids=[f"{a}-{b}" for a, b in EXCLUSIVE])
def test_options_that_exclude_each_other_are_a_usage_error_naming_both(
        one: str, other: str, tmp_path: Path) -> None:
    src = tmp_path / "g.xml"
    src.write_text(GOOD)
    before = sorted(tmp_path.iterdir())
    p = subprocess.run([*AUGMENT, "--boards", "embedded", *VALUES[one], *VALUES[other],
                        str(src)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 2, p.stdout + p.stderr
    assert SPELLING[one] in p.stderr and SPELLING[other] in p.stderr
    assert p.stdout == ""
    assert sorted(tmp_path.iterdir()) == before and src.read_text() == GOOD


def test_connect_without_verify_is_a_usage_error(tmp_path: Path) -> None:
    p = augment("-c", "test:///default", str(EXAMPLE))
    assert p.returncode == 2
    assert "--connect only works with --verify" in p.stderr


def test_boards_refresh_all_with_one_emulator_is_a_usage_error() -> None:
    p = run("refresh", "--all", "--emulator", "qemu-system-x86_64", command=BOARDS)
    assert p.returncode == 2
    assert "--all" in p.stderr and "--emulator" in p.stderr


# ---- terminals, pipes and colour ---------------------------------------------------------------


def test_explain_into_a_pipe_neither_wraps_nor_colours() -> None:
    p = augment("--explain", str(EXAMPLE))
    assert p.returncode == 0, p.stderr
    assert not ANSI.search(p.stdout)
    assert max(len(line) for line in p.stdout.splitlines()) > 120  # long lines stay whole
    data = json.loads(augment("--explain", "--format", "json", str(EXAMPLE)).stdout)
    assert len(p.stdout.splitlines()) >= len(data) > 0


def test_explain_on_a_terminal_colours_unless_no_color() -> None:
    status, coloured = on_a_terminal("--explain", str(EXAMPLE))
    assert status == 0, coloured
    assert ANSI.search(coloured)
    status, plain = on_a_terminal("--explain", str(EXAMPLE), env={"NO_COLOR": "1"})
    assert status == 0, plain
    assert not ANSI.search(plain)


# ---- --quiet -----------------------------------------------------------------------------------

# function 1 of a slot whose function 0 is empty: a warning, not an error
WARNS = GOOD.replace(
    "<target dev='vda' bus='virtio'/>",
    "<target dev='vda' bus='virtio'/><address type='pci' domain='0' bus='0' slot='5' "
    "function='1'/>").replace("machine='q35'", "machine='pc'")


@pytest.mark.parametrize("mode", [[], ["--check"]], ids=["augment", "check"])
def test_quiet_silences_warnings_not_errors(mode: list[str]) -> None:
    loud = augment(*mode, "-", stdin=WARNS.encode())
    assert loud.returncode == 0 and ": warning: " in loud.stderr, loud.stderr
    quiet = augment(*mode, "-q", "-", stdin=WARNS.encode())
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout == loud.stdout
    bad = augment(*mode, "-q", "-", stdin=GOOD.replace("q35", "q53").encode())
    assert bad.returncode == 1 and ": error: " in bad.stderr


# ---- one message per problem -------------------------------------------------------------------

PROBLEMS = {
    "syntax": "<domain type='kvm'><name>x</name>\n<devices>\n</domain>\n",
    "wrong-root": "<network><name>x</name></network>\n",
    "unknown-machine": GOOD.replace("machine='q35'", "machine='q53'"),
    "invalid-value": GOOD.replace("bus='virtio'", "bus='virtoi'"),
    "placement": GOOD.replace("machine='q35'", "machine='isapc'"),  # no PCI bus for it
    "reserved-slot": GOOD.replace("machine='q35'", "machine='pc'").replace(
        "bus='virtio'/>", "bus='virtio'/><address type='pci' domain='0' bus='0' slot='1'/>"),
}


@pytest.mark.parametrize("code", sorted(PROBLEMS))
def test_augment_and_check_say_the_same_words(code: str, tmp_path: Path) -> None:
    src = tmp_path / "g.xml"
    src.write_text(PROBLEMS[code])
    plain = augment(str(src))
    check = augment("--check", str(src))
    assert plain.returncode == check.returncode == 1
    assert plain.stdout == ""
    assert plain.stderr == check.stderr
    assert re.match(rf"^{re.escape(str(src))}:\d+(:\d+)?: error: ", plain.stderr)


@pytest.mark.parametrize("code", sorted(PROBLEMS))
def test_json_codes_tell_the_kinds_of_problem_apart(code: str) -> None:
    p = augment("--check", "--format", "json", "-", stdin=PROBLEMS[code].encode())
    assert p.returncode == 1
    codes = [f["code"] for f in json.loads(p.stdout) if f["severity"] == "error"]
    assert codes[0] == code


def test_a_misspelt_machine_type_suggests_the_nearest_names() -> None:
    p = augment("-", stdin=GOOD.replace("machine='q35'", "machine='q53'").encode())
    assert p.returncode == 1
    assert "does not support machine type 'q53'" in p.stderr
    assert "did you mean 'q35' (pc-q35-7.2)" in p.stderr
    assert "pc-i440fx-1.4" not in p.stderr
    far = augment("-", stdin=GOOD.replace("machine='q35'", "machine='zzzzzz'").encode())
    assert "'q35' (pc-q35-7.2)" in far.stderr and "'pc' (pc-i440fx-7.2)" in far.stderr


def test_an_unreadable_file_names_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.xml"
    p = augment(str(missing))
    assert p.returncode == 2
    assert p.stderr.startswith(f"{missing}: error: cannot read")


# ---- --verify's libvirt connection ---------------------------------------------------------


@pytest.mark.parametrize("how", ["option", "environment", "default"])
def test_verify_connects_where_virsh_would(how: str, tmp_path: Path) -> None:
    """``-c URI``, else ``$LIBVIRT_DEFAULT_URI``, else qemu:///system: as virsh itself."""
    log = tmp_path / "virsh.log"
    fake = tmp_path / "virsh"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\necho 'error: refused' >&2\nexit 1\n")
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}"}
    args = ["--verify", str(EXAMPLE)]
    if how == "option":
        args[:0] = ["-c", "test:///option"]
        env["LIBVIRT_DEFAULT_URI"] = "test:///environment"
    elif how == "environment":
        env["LIBVIRT_DEFAULT_URI"] = "test:///environment"
    else:
        env["LIBVIRT_DEFAULT_URI"] = ""
    p = augment(*args, env=env)
    assert p.returncode == 1
    assert "refused" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    want = {"option": "test:///option", "environment": "test:///environment",
            "default": "qemu:///system"}[how]
    assert log.read_text().split()[:3] == ["-q", "-c", want]
