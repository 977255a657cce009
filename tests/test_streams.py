"""Closed and full standard streams (issue 18, item 2 and Build 3): whatever the command and
whichever stream fails, the run ends with a status and one line on stderr, never a traceback.

Each command runs as a process with its standard output closed (``>&-``) or on ``/dev/full``
(every write fails with ENOSPC), or its standard input closed (``<&-``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hardening import (
    BOARDS,
    EMBEDDED,
    assert_clean_end,
    closed_stdin,
    closed_stdout,
    full_stdout,
    large_guest,
    probe,
)
from qemu_env import need_qemu

GUEST = large_guest(4, 4)

# name -> command line (run in a folder holding g.xml)
WRITERS: dict[str, list[str]] = {
    "augment": [*EMBEDDED, "g.xml"],
    "augment-stdin": [*EMBEDDED, "-"],
    "explain": [*EMBEDDED, "--explain", "g.xml"],
    "explain-json": [*EMBEDDED, "--explain", "--format", "json", "g.xml"],
    "check-json": [*EMBEDDED, "--check", "--format", "json", "g.xml"],
    "help": [*EMBEDDED, "--help"],
    "boards-show": [*BOARDS, "show", "q35", "--boards", "embedded"],
    "boards-show-json": [*BOARDS, "show", "q35", "--boards", "embedded", "--json"],
    "boards-help": [*BOARDS, "--help"],
}
FAILURES: dict[str, Callable[[], None]] = {"closed": closed_stdout, "full": full_stdout}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "g.xml").write_text(GUEST)
    return tmp_path


@pytest.mark.parametrize("how", sorted(FAILURES))
@pytest.mark.parametrize("name", sorted(WRITERS))
def test_a_stdout_that_cannot_be_written_is_one_line_and_a_failure(name: str, how: str,
                                                                   folder: Path) -> None:
    stdin = folder / "g.xml" if name == "augment-stdin" else None
    m = probe(WRITERS[name], folder, stdin=stdin, preexec=FAILURES[how])
    assert_clean_end(m, codes=(1, 2))
    assert len(m.stderr_lines) == 1, m.stderr
    assert "standard output" in m.stderr or "stdout" in m.stderr, m.stderr


def test_a_stdout_on_dev_full_leaves_the_input_untouched_and_writes_nothing(folder: Path) -> None:
    before = (folder / "g.xml").read_bytes()
    m = probe([*EMBEDDED, "g.xml"], folder, preexec=full_stdout)
    assert_clean_end(m, codes=(1,))
    assert (folder / "g.xml").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir() if p.name != ".cache-home") == ["g.xml"]


@pytest.mark.parametrize("args", [["-"], ["--check", "-"], ["--explain", "-"]])
def test_a_closed_stdin_is_an_unreadable_input(args: list[str], folder: Path) -> None:
    m = probe([*EMBEDDED, *args], folder, preexec=closed_stdin)
    assert_clean_end(m, codes=(2,))
    assert m.stderr_lines[0].startswith("<stdin>: error: cannot read"), m.stderr


def test_boards_list_onto_a_full_stdout(folder: Path) -> None:
    qemu = need_qemu()
    m = probe([*BOARDS, "list", "--emulator", qemu], folder, preexec=full_stdout, timeout=30)
    assert_clean_end(m, codes=(1,))
    assert len(m.stderr_lines) == 1, m.stderr


def test_a_closed_stderr_still_ends_with_the_status(folder: Path) -> None:
    """Nothing can be said, but the status still says it: 1 for a bad input, 0 for a good one."""
    (folder / "bad.xml").write_text("<domain>")

    def closed_stderr() -> None:
        import os

        os.close(2)

    assert probe([*EMBEDDED, "bad.xml"], folder, preexec=closed_stderr).returncode == 1
    m = probe([*EMBEDDED, "g.xml"], folder, preexec=closed_stderr)
    assert m.returncode == 0 and m.stdout.startswith(b"<domain")
