"""The quick start path of ``augment``: it reads plain command lines exactly as typer does,
hands everything else to typer, and a batch's files land together after one sync."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from augmenter.cli import outputs as files
from augmenter.cli.app import app
from augmenter.cli.files import Request, UsageError, validate
from augmenter.cli.launch import quick_request
from augmenter.cli.outputs import Staged, staged

COMMAND = typer.main.get_command(app)

TOKENS = (
    "a.xml", "b.xml", "-", "-o", "--output", "--output=out.xml", "-i", "--in-place",
    "--check", "--strict", "--schema", "--explain", "--verify", "--graph", "pic.svg", "--format",
    "json", "text", "--format=json", "--boards", "embedded", "qemu", "nowhere", "--boards=auto",
    "--reserve-hotplug", "3", "99", "-1", "x", "--reserve-hotplug=2", "--", "-x", "--help",
    "-h", "--no-such", "-io", "--check=yes", "=", "--output=", "-j", "--jobs", "--jobs=0",
    "2", "-j3", "-q", "--quiet", "-c", "--connect=test:///default", "--version", "٣", "²",
    "--timeout", "2.5", "--timeout=0", "nan", "1e3",
    "--lock-occupied", "--convert-to", "q35", "pc", "--convert-to=i440fx",
    "--group-host-functions", "--numa-aware", "--host-numa", "65:00.0=1", "--host-numa=x",
)


def typer_reading(argv: list[str]) -> dict[str, object] | None:
    """What typer makes of a command line (its parameters), or None: a usage error."""
    try:
        with COMMAND.make_context("augment", list(argv)) as ctx:
            params = dict(ctx.params)
    except Exception as exc:  # click's, which typer may vendor: known by name
        if {"UsageError", "Exit"} & {cls.__name__ for cls in type(exc).__mro__}:
            return None
        raise
    params.pop("version")  # eager: it never reaches a request
    # no file named, with a pipe on stdin: standard input (both readings apply with_stdin)
    params["files"] = list(params["files"] or []) or ["-"]
    return params


def as_params(request: Request) -> dict[str, object]:
    return dataclasses.asdict(request)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=7))
def test_the_quick_reading_is_typers_reading(argv: list[str]) -> None:
    """Every command line the quick path takes means the same to typer; one typer refuses
    (or one the checks after parsing refuse), the quick path leaves to typer."""
    quick = quick_request(argv, stdin_is_terminal=False)
    if quick is None:
        return
    theirs = typer_reading(argv)
    assert theirs is not None, f"typer refuses {argv}, the quick path took it"
    assert theirs == as_params(quick)


@pytest.mark.parametrize("argv", [
    ["a.xml"], ["-", "-o", "out.xml"], ["--check", "--format", "json", "a.xml", "b.xml"],
    ["--in-place", "a.xml", "b.xml"], ["--boards=embedded", "--reserve-hotplug", "4", "a.xml"],
    ["-j", "2", "a.xml", "b.xml"], ["--jobs=0", "--check", "a.xml"],
    ["--timeout", "30", "a.xml"],
    ["--check", "--schema", "a.xml"],
    ["--reserve-hotplug", "300", "a.xml"], ["--convert-to", "q35", "--lock-occupied", "a.xml"],
    ["--group-host-functions", "--host-numa", "0000:65:00.0=1,b3:00.0=0", "a.xml"],
])
def test_plain_command_lines_take_the_quick_path(argv: list[str]) -> None:
    assert quick_request(argv, stdin_is_terminal=False) is not None


@pytest.mark.parametrize("argv", [
    [], ["--help"], ["-h"], ["--", "a.xml"], ["-x", "a.xml"], ["-o"], ["-o", "a", "-o", "b", "c"],
    ["--format", "yaml", "a.xml"], ["--convert-to", "i440fx", "a.xml"],
    ["--host-numa", "65:00.0", "a.xml"],
    ["--reserve-hotplug", "-1", "a.xml"], ["--in-place", "-"], ["-i", "-o", "x", "a.xml"],
    ["a.xml", "b.xml", "-o", "/no/such/folder"], ["--graph", "g.svg", "a.xml", "b.xml"],
    ["--timeout", "0", "a.xml"], ["--timeout", "x", "a.xml"], ["--timeout=inf", "a.xml"],
    ["--schema", "a.xml"],
])
def test_everything_else_goes_to_typer(argv: list[str]) -> None:
    assert quick_request(argv, stdin_is_terminal=True) is None


def test_usage_errors_are_the_same_whichever_path_reads_them(tmp_path: Path) -> None:
    """A refused option combination is reported by typer, in its form, with status 2."""
    for argv in (["--format", "yaml", "a.xml"], ["--in-place", "-"],
                 ["-o", str(tmp_path / "nowhere"), "a.xml", "b.xml"]):
        p = subprocess.run([sys.executable, "-m", "augmenter", *argv], capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 2, (argv, p.stderr)
        assert "Usage:" in p.stderr and "Traceback" not in p.stderr


# What a plain run must not load: typer and click (the full command line), networkx (the
# topology's graph, built only when explain, graph or the API reads it).
HEAVY = ("typer", "click", "networkx")
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "q35-desktop.xml"


def test_a_plain_run_imports_neither_typer_nor_networkx() -> None:
    """``augment guest.xml`` starts quickly: the quick path never loads the heavy packages."""
    code = ("import sys\nfrom augmenter.cli.launch import main\n"
            f"sys.argv = ['augment', '--boards', 'embedded', {str(EXAMPLE)!r}]\n"
            "try:\n    main()\nfinally:\n"
            f"    print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})),"
            " file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("<?xml")
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_validate_names_the_problem() -> None:
    with pytest.raises(UsageError, match="--in-place and --output"):
        validate(Request(files=["a.xml"], in_place=True, output="b.xml"))


# ---- staged writes ------------------------------------------------------------------------


def test_staged_files_appear_only_on_commit(tmp_path: Path) -> None:
    target = tmp_path / "a.xml"
    target.write_text("old")
    with staged() as out:
        out.add(target, b"new")
        out.add(tmp_path / "b.xml", b"bee")
        assert target.read_text() == "old" and not (tmp_path / "b.xml").exists()
        out.commit()
    assert target.read_text() == "new" and (tmp_path / "b.xml").read_text() == "bee"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.xml", "b.xml"]


def test_an_interrupted_batch_changes_nothing_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.xml"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), staged() as out:
        out.add(target, b"new")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.xml"]


def test_a_batch_syncs_once_and_a_single_file_fsyncs_only_itself(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    syncs: list[str] = []
    monkeypatch.setattr(os, "sync", lambda: syncs.append("sync"))
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (syncs.append("fsync"), real_fsync(fd))[1])
    batch = Staged()
    for n in range(20):
        batch.add(tmp_path / f"g{n}.xml", b"x")
    batch.commit()
    assert syncs.count("sync") == 1 and syncs.count("fsync") == 1  # the sync, then the folder
    syncs.clear()
    files.write_atomically(tmp_path / "one.xml", b"y")
    assert syncs == ["fsync", "fsync"]  # the file, then its folder


def test_a_write_error_in_a_batch_is_one_message_and_leaves_no_temporary(tmp_path: Path) -> None:
    good = tmp_path / "good.xml"
    good.write_text("<domain type='kvm'><name>g</name><memory>262144</memory>"
                    "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices/></domain>")
    out = tmp_path / "out"
    out.mkdir()
    (out / "good.xml").write_text("previous")
    (out / "late.xml").mkdir()  # a folder where the second output should go: rename fails
    late = tmp_path / "late.xml"
    late.write_text(good.read_text())
    p = subprocess.run([sys.executable, "-m", "augmenter", "--boards", "embedded", str(good),
                        str(late), "-o", str(out)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "cannot write" in p.stderr
    assert not [x for x in out.iterdir() if x.name.endswith(".tmp")]


def test_a_new_output_is_private_and_an_existing_one_keeps_its_mode(tmp_path: Path) -> None:
    """Domain XML may carry passwords: a new output is 0600; a rewritten file keeps its mode."""
    files.write_atomically(tmp_path / "new.xml", b"x")
    assert (tmp_path / "new.xml").stat().st_mode & 0o7777 == 0o600
    old = tmp_path / "old.xml"
    old.write_bytes(b"o")
    old.chmod(0o644)
    files.write_atomically(old, b"n")
    assert old.stat().st_mode & 0o7777 == 0o644 and old.read_bytes() == b"n"


def test_a_taken_temporary_name_falls_back_to_a_random_one(tmp_path: Path) -> None:
    target = tmp_path / "g.xml"
    serial = next(files._serial)
    nxt = serial + 1
    (tmp_path / f".g.xml.{os.getpid()}-{nxt}.tmp").write_text("someone else's")
    files.write_atomically(target, b"mine")
    assert target.read_bytes() == b"mine"
    assert (tmp_path / f".g.xml.{os.getpid()}-{nxt}.tmp").read_text() == "someone else's"


def test_two_outputs_to_one_name_the_last_wins(tmp_path: Path) -> None:
    with staged() as out:
        out.add(tmp_path / "g.xml", b"first")
        out.add(tmp_path / "g.xml", b"second")
        out.commit()
    assert (tmp_path / "g.xml").read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["g.xml"]


def test_a_rewritten_file_keeps_its_owner_and_only_what_differs_is_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mode and owner are copied from the file replaced, each only when the new file's differ
    (a chmod or chown is a metadata write per file: a batch of thousands pays for them)."""
    calls: list[str] = []
    real_fchmod, real_fchown = os.fchmod, os.fchown
    monkeypatch.setattr(os, "fchmod", lambda fd, mode: (calls.append("fchmod"),
                                                        real_fchmod(fd, mode))[1])
    monkeypatch.setattr(os, "fchown", lambda fd, uid, gid: (calls.append("fchown"),
                                                            real_fchown(fd, uid, gid))[1])
    same = tmp_path / "same.xml"
    files.write_atomically(same, b"1")  # 0600, ours
    files.write_atomically(same, b"2")
    assert calls == [] and same.stat().st_mode & 0o7777 == 0o600
    other = tmp_path / "other.xml"
    other.write_bytes(b"o")
    other.chmod(0o640)
    if os.geteuid() == 0:  # only root may give a file away
        os.chown(other, 1, 1)
    files.write_atomically(other, b"n")
    st = other.stat()
    assert st.st_mode & 0o7777 == 0o640 and other.read_bytes() == b"n"
    assert calls == (["fchmod", "fchown"] if os.geteuid() == 0 else ["fchmod"])
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (1, 1)


def test_the_quick_options_table_is_generated_from_the_typer_command() -> None:
    """The quick start reads the options typer declares: regenerate after changing one
    (``scripts/gen_quick_options.py``)."""
    script = Path(__file__).resolve().parent.parent / "scripts" / "gen_quick_options.py"
    p = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
