"""What augment does with the files around it (issue 18, items 3, 14, 15 and Build 5).

* every target of a batch is checked before any is written, and two inputs that would write
  one output are a usage error;
* a signal that can be caught (SIGTERM, SIGHUP, SIGINT) removes every temporary file, and the
  temporaries of a process that could not clean up (SIGKILL) are removed by the next run that
  writes into that folder;
* ``-o`` and ``--in-place`` do not follow a symbolic link in a folder others can write;
* ``--in-place`` keeps hard links, and refuses a read-only file unless ``--force``;
* a FIFO nobody writes to, or anything else that never ends, is not waited for forever;
* ``--graph`` into a folder that is missing, or onto a directory, is one line.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hardening import (
    EMBEDDED,
    Measured,
    assert_clean_end,
    child_env,
    large_guest,
    listing,
    probe,
)

GOOD = ("<domain type='kvm'><name>g</name><memory>65536</memory>"
       "<os><type arch='x86_64' machine='q35'>hvm</type>"
        "</os><devices><disk type='file' device='disk'><source file='/i.qcow2'/>"
        "<target dev='vda' bus='virtio'/></disk></devices></domain>\n")


def _one_error(m: Measured, codes: tuple[int, ...] = (1,)) -> str:
    assert_clean_end(m, codes=codes)
    assert len(m.stderr_lines) == 1, m.stderr
    return m.stderr_lines[0]


# ---- --graph ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["missing/t.svg", "missing/t.dot", "/proc/t.dot",
                                    "folder.svg", "folder.dot"])
def test_a_picture_that_cannot_be_written_is_one_line(target: str, tmp_path: Path) -> None:
    (tmp_path / "g.xml").write_text(GOOD)
    (tmp_path / "folder.svg").mkdir()
    (tmp_path / "folder.dot").mkdir()
    before = listing(tmp_path)
    line = _one_error(probe([*EMBEDDED, "--graph", target, "g.xml"], tmp_path))
    assert target in line, line
    assert listing(tmp_path) == before


def test_a_dot_that_hangs_is_stopped_with_its_children(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from augmenter.reports.graph import GraphError, run_dot

    (tmp_path / "bin").mkdir()
    script = tmp_path / "bin" / "dot"
    script.write_text(f"#!/bin/sh\nsleep 60 &\necho $! > '{tmp_path}/child'\nexec sleep 60\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    start = time.monotonic()
    with pytest.raises(GraphError, match="no picture within 1 s"):
        run_dot("digraph {}", "svg", timeout=1)
    assert time.monotonic() - start < 5
    child = int((tmp_path / "child").read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(
        f"/proc/{child}/stat").read_text().split(")")[1][:3]  # gone, or a zombie not ours


# ---- batches ----------------------------------------------------------------------------------


def _batch(tmp_path: Path, count: int, text: str = GOOD) -> list[str]:
    src = tmp_path / "in"
    src.mkdir()
    names = []
    for n in range(1, count + 1):
        (src / f"b{n}.xml").write_text(text)
        names.append(f"in/b{n}.xml")
    (tmp_path / "od").mkdir()
    return names


def test_a_batch_checks_every_target_before_writing_any(tmp_path: Path) -> None:
    names = _batch(tmp_path, 30)
    (tmp_path / "od" / "b15.xml").mkdir()  # one target cannot be replaced
    m = probe([*EMBEDDED, "-j", "1", "-o", "od/", *names], tmp_path)
    line = _one_error(m)
    assert "od/b15.xml" in line, line
    assert sorted(p.name for p in (tmp_path / "od").iterdir()) == ["b15.xml"]


def test_two_inputs_with_one_output_name_are_a_usage_error(tmp_path: Path) -> None:
    for folder in ("a", "b", "od"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "g.xml").write_text(GOOD) if folder != "od" else None
    m = probe([*EMBEDDED, "a/g.xml", "b/g.xml", "-o", "od/"], tmp_path)
    assert_clean_end(m, codes=(2,), lines=4)  # typer's usage error: usage, hint, the error
    assert "a/g.xml and b/g.xml would both be written to od/g.xml" in m.stderr, m.stderr
    assert list((tmp_path / "od").iterdir()) == []
    m = probe([*EMBEDDED, "--in-place", "a/g.xml", "a/../a/g.xml"], tmp_path)
    assert_clean_end(m, codes=(2,), lines=4)
    assert "would both be written" in m.stderr, m.stderr


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT],
                         ids=["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_caught_signal_leaves_no_temporary_file(sig: signal.Signals, tmp_path: Path) -> None:
    names = _batch(tmp_path, 1000)
    env = child_env(tmp_path / ".cache-home")
    args = [*EMBEDDED, "-o", "od/", *names]
    full = probe(args, tmp_path, timeout=60)
    assert full.returncode == 0, full.stderr
    expected = (tmp_path / "od" / "b1.xml").read_bytes()
    rng = random.Random(int(sig))
    for _ in range(3):
        for p in (tmp_path / "od").iterdir():
            p.unlink()
        proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        time.sleep(full.wall * rng.uniform(0.3, 1.0))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert b"Traceback" not in err, err.decode()[-2000:]
        assert proc.returncode != 0 or not _temporaries(tmp_path / "od")
        assert _temporaries(tmp_path / "od") == []
        for p in (tmp_path / "od").iterdir():
            assert p.read_bytes() == expected, p.name  # whole, or not there


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_next_run_removes_the_temporaries_of_a_killed_one(tmp_path: Path) -> None:
    names = _batch(tmp_path, 3)
    od = tmp_path / "od"
    stale = od / f".b1.xml.{_dead_pid()}-0.tmp"
    stale.write_bytes(b"half a guest")
    live = od / f".b2.xml.{os.getpid()}-0.tmp"  # a process that is still running: kept
    live.write_bytes(b"being written")
    someone = od / ".notes.tmp"  # not named like augment's: kept
    someone.write_bytes(b"not ours")
    m = probe([*EMBEDDED, "-o", "od/", *names], tmp_path)
    assert_clean_end(m, codes=(0,), lines=0)
    assert not stale.exists()
    assert live.exists() and someone.exists()


@pytest.mark.slow
def test_sigkill_debris_is_gone_after_the_next_run(tmp_path: Path) -> None:
    names = _batch(tmp_path, 1000)
    env = child_env(tmp_path / ".cache-home")
    args = [*EMBEDDED, "-j", "1", "-o", "od/", *names]
    for delay in (0.6, 0.9, 1.2):
        proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.kill()
        proc.wait(timeout=30)
    m = probe([*EMBEDDED, "-o", "od/", *names[:2]], tmp_path)
    assert m.returncode == 0, m.stderr
    assert _temporaries(tmp_path / "od") == []


# ---- symbolic links, hard links, read-only files ----------------------------------------------


def _shared_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A sticky world-writable folder (like /tmp) holding a symlink to a file outside it."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    victim = tmp_path / "victim.xml"
    victim.write_bytes(b"precious")
    link = shared / "out.xml"
    link.symlink_to(victim)
    if os.geteuid() == 0:  # planted by someone else, as on a real /tmp
        os.lchown(link, 65534, 65534)
    return shared, victim


def test_output_does_not_follow_a_symlink_in_a_folder_others_can_write(tmp_path: Path) -> None:
    shared, victim = _shared_folder(tmp_path)
    (tmp_path / "g.xml").write_text(GOOD)
    line = _one_error(probe([*EMBEDDED, "g.xml", "-o", "shared/out.xml"], tmp_path))
    assert "shared/out.xml" in line and "link" in line, line
    assert victim.read_bytes() == b"precious"
    assert (shared / "out.xml").is_symlink()
    assert _temporaries(shared) == []


def test_in_place_does_not_follow_a_symlink_in_a_folder_others_can_write(
        tmp_path: Path) -> None:
    _, victim = _shared_folder(tmp_path)
    victim.write_text(GOOD)
    line = _one_error(probe([*EMBEDDED, "--in-place", "shared/out.xml"], tmp_path))
    assert "link" in line, line
    assert victim.read_text() == GOOD


def test_a_fifo_or_a_folder_as_output_is_refused(tmp_path: Path) -> None:
    (tmp_path / "g.xml").write_text(GOOD)
    os.mkfifo(tmp_path / "out.xml")
    line = _one_error(probe([*EMBEDDED, "g.xml", "-o", "out.xml"], tmp_path))
    assert line.startswith("out.xml: error: cannot write:") and "regular file" in line, line
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "g.xml").mkdir()
    line = _one_error(probe([*EMBEDDED, "g.xml", "-o", "dir/"], tmp_path))
    assert line.startswith("dir/g.xml: error: cannot write:"), line


def test_another_users_file_in_a_folder_others_can_write_is_not_replaced(tmp_path: Path) -> None:
    """Root's output would go to the user who planted the file, with root's secrets in it.
    (Only root can give a file away; run otherwise, the file is this user's own and is
    replaced, as it should be.)"""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    planted = shared / "out.xml"
    planted.write_bytes(b"bait")
    (tmp_path / "g.xml").write_text(GOOD)
    if os.geteuid() == 0:
        os.chown(planted, 65534, 65534)
        line = _one_error(probe([*EMBEDDED, "g.xml", "-o", "shared/out.xml"], tmp_path))
        assert "another user's file" in line, line
        assert planted.read_bytes() == b"bait"
    else:
        m = probe([*EMBEDDED, "g.xml", "-o", "shared/out.xml"], tmp_path)
        assert_clean_end(m, codes=(0,), lines=0)
        assert b"<address" in planted.read_bytes()


def test_a_symlink_in_a_private_folder_is_followed(tmp_path: Path) -> None:
    (tmp_path / "real.xml").write_bytes(b"old")
    (tmp_path / "link.xml").symlink_to("real.xml")
    (tmp_path / "g.xml").write_text(GOOD)
    m = probe([*EMBEDDED, "g.xml", "-o", "link.xml"], tmp_path)
    assert_clean_end(m, codes=(0,), lines=0)
    assert (tmp_path / "link.xml").is_symlink()
    assert b"<address" in (tmp_path / "real.xml").read_bytes()


def test_in_place_keeps_hard_links_and_says_so(tmp_path: Path) -> None:
    guest = tmp_path / "g.xml"
    guest.write_text(GOOD)
    os.link(guest, tmp_path / "other-name.xml")
    inode = guest.stat().st_ino
    m = probe([*EMBEDDED, "--in-place", "g.xml"], tmp_path)
    assert_clean_end(m, codes=(0,))
    assert "link" in m.stderr and "in place" in m.stderr, m.stderr
    assert guest.stat().st_ino == inode and guest.stat().st_nlink == 2
    assert b"<address" in (tmp_path / "other-name.xml").read_bytes()
    assert listing(tmp_path) == {"g.xml", "other-name.xml"}


def test_in_place_on_a_file_with_one_link_replaces_it_atomically(tmp_path: Path) -> None:
    guest = tmp_path / "g.xml"
    guest.write_text(GOOD)
    inode = guest.stat().st_ino
    m = probe([*EMBEDDED, "--in-place", "g.xml"], tmp_path)
    assert_clean_end(m, codes=(0,), lines=0)
    assert guest.stat().st_ino != inode  # a new file renamed over the old one


def test_in_place_refuses_a_read_only_file_unless_forced(tmp_path: Path) -> None:
    guest = tmp_path / "g.xml"
    guest.write_text(GOOD)
    guest.chmod(0o444)
    line = _one_error(probe([*EMBEDDED, "--in-place", "g.xml"], tmp_path))
    assert "read-only" in line and "--force" in line, line
    assert guest.read_text() == GOOD
    m = probe([*EMBEDDED, "--in-place", "--force", "g.xml"], tmp_path)
    assert_clean_end(m, codes=(0,), lines=0)
    assert b"<address" in guest.read_bytes()
    assert guest.stat().st_mode & 0o7777 == 0o444


# ---- inputs that never end --------------------------------------------------------------------


@pytest.mark.slow  # waits for the read timeout
@pytest.mark.parametrize("args", [[], ["--check"], ["-o", "out.xml"]])
def test_a_fifo_nobody_writes_to_is_not_waited_for_forever(args: list[str],
                                                           tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "in.xml")
    m = probe([*EMBEDDED, *args, "in.xml"], tmp_path)
    line = _one_error(m, (2,))
    assert line.startswith("in.xml: error:"), line
    assert not (tmp_path / "out.xml").exists()


def test_a_fifo_with_a_writer_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "in.xml"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"sleep 0.5; printf %s \"$0\" > '{fifo}'", GOOD])
    try:
        m = probe([*EMBEDDED, "in.xml"], tmp_path)
    finally:
        writer.wait(timeout=10)
    assert_clean_end(m, codes=(0,), lines=0)
    assert b"<address" in m.stdout


def test_dev_stdin_is_standard_input(tmp_path: Path) -> None:
    (tmp_path / "g.xml").write_text(large_guest(3, 3))
    m = probe([*EMBEDDED, "/dev/stdin"], tmp_path, stdin=tmp_path / "g.xml")
    assert_clean_end(m, codes=(0,), lines=0)
    assert b"<address" in m.stdout
