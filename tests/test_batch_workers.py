"""A batch spread over worker processes comes out exactly as a one-process run makes it: the
same outputs, messages, order and exit status, whatever happens to a worker."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from augmenter.process.workers import BLOCK, ordered_map, worth_forking

PARENT = os.getpid()
EXAMPLES = Path(__file__).parent.parent / "examples"


def children() -> set[int]:
    """This process's live or unreaped children (Linux: /proc/PID/task/*/children)."""
    return _children_of(os.getpid())


def _children_of(pid: int) -> set[int]:
    try:
        return {int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                for c in (t / "children").read_text().split()}
    except OSError:
        return set()


@pytest.fixture(autouse=True)
def no_worker_outlives_a_test() -> Iterator[None]:
    before = children()
    yield
    assert children() <= before


def square(x: int) -> int:
    return x * x


@pytest.mark.parametrize("count", [0, 1, BLOCK, 2 * BLOCK + 1, 100, 333])
@pytest.mark.parametrize("jobs", [1, 2, 3, 7])
def test_results_come_in_input_order(count: int, jobs: int) -> None:
    items = list(range(count))
    assert list(ordered_map(square, items, jobs)) == [x * x for x in items]


def test_the_work_runs_in_several_processes() -> None:
    pids = list(ordered_map(lambda _: os.getpid(), range(200), 3))
    assert pids[:BLOCK] == [PARENT] * BLOCK  # the first block here: boards load once
    assert len(set(pids[BLOCK:]) - {PARENT}) == 3


def test_small_batches_stay_in_this_process() -> None:
    assert not worth_forking(2 * BLOCK, 8)
    assert not worth_forking(1000, 1)
    assert set(ordered_map(lambda _: os.getpid(), range(2 * BLOCK), 4)) == {PARENT}


def _dies_in_a_worker(x: int) -> int:
    if x == 50 and os.getpid() != PARENT:
        os.kill(os.getpid(), signal.SIGKILL)
    return x + 1


def test_a_worker_that_dies_leaves_its_blocks_to_this_process() -> None:
    assert list(ordered_map(_dies_in_a_worker, range(300), 2)) == list(range(1, 301))


def _fails_at_77(x: int) -> int:
    if x == 77:
        raise ValueError(f"bad item {x}")
    return x


def test_an_exception_in_a_worker_is_raised_here_where_one_process_raises_it() -> None:
    got: list[int] = []
    with pytest.raises(ValueError, match="bad item 77"):
        for value in ordered_map(_fails_at_77, range(300), 2):
            got.append(value)
    assert got == list(range(77))


def test_a_reader_that_stops_early_ends_every_worker() -> None:
    results = ordered_map(square, range(2000), 3)
    assert [next(results) for _ in range(30)] == [x * x for x in range(30)]
    results.close()  # the fixture checks that every worker is reaped


# ---- the command -------------------------------------------------------------------------------


def _command(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "augmenter", "--boards", "embedded", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def batch(tmp_path: Path) -> list[str]:
    """60 inputs: the examples several times, a bad placement, a file that is not XML, a
    missing file and a folder, so every kind of message appears in the middle of a batch."""
    src = tmp_path / "in"
    src.mkdir()
    names: list[str] = []
    guests = sorted(p for p in EXAMPLES.glob("*.xml") if not p.name.endswith(".out.xml"))
    for n in range(52):
        example = guests[n % len(guests)]
        name = f"g{n:02d}-{example.name}"
        shutil.copy(example, src / name)
        names.append(f"in/{name}")
    bad = (src / names[3].split("/")[1]).read_text().replace("<devices>", (
        "<devices><disk type='file' device='disk'><target dev='vdz' bus='virtio'/>"
        "<address type='pci' bus='0x00' slot='0x00' function='0x0'/></disk>"), 1)
    (src / "bad-placement.xml").write_text(bad)
    (src / "not-xml.xml").write_text("no < xml here")
    (src / "folder.xml").mkdir()
    extra = ["in/bad-placement.xml", "in/not-xml.xml", "in/missing.xml", "in/folder.xml"]
    for at, name in zip((9, 23, 31, 47), extra, strict=True):
        names.insert(at, name)
    return names


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["-o", "--in-place"])
def test_a_parallel_batch_equals_a_one_process_batch(tmp_path: Path, batch: list[str],
                                                     mode: str) -> None:
    results = {}
    for jobs in ("1", "3"):
        work = tmp_path / f"j{jobs}"
        shutil.copytree(tmp_path / "in", work / "in", symlinks=True)
        args = ["-o", "out/"] if mode == "-o" else ["--in-place"]
        if mode == "-o":
            (work / "out").mkdir()
        p = _command(*batch, *args, "--jobs", jobs, cwd=work)
        folder = work / ("out" if mode == "-o" else "in")
        written = {f.name: f.read_bytes() for f in sorted(folder.iterdir()) if f.is_file()}
        results[jobs] = (p.returncode, p.stdout, p.stderr, written)
    assert results["1"] == results["3"]
    status, _, stderr, written = results["3"]
    assert status == 2 and "Traceback" not in stderr  # unreadable inputs: 2
    assert len(written) >= 52 and not [n for n in written if n.endswith(".tmp")]
    lines = stderr.splitlines()
    order = [next(i for i, line in enumerate(lines) if line.startswith(f"in/{name}"))
             for name in ("bad-placement.xml", "not-xml.xml", "missing.xml", "folder.xml")]
    assert order == sorted(order)  # messages in input order


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_parallel_check_equals_a_one_process_check(tmp_path: Path, batch: list[str],
                                                     fmt: str) -> None:
    one = _command("--check", "--format", fmt, *batch, "-j", "1", cwd=tmp_path)
    many = _command("--check", "--format", fmt, *batch, "-j", "4", cwd=tmp_path)
    assert (one.returncode, one.stdout, one.stderr) == (many.returncode, many.stdout,
                                                        many.stderr)
    assert one.returncode == 2 and "Traceback" not in many.stderr


def test_jobs_zero_means_one_per_cpu_and_a_negative_count_is_a_usage_error(
        tmp_path: Path, batch: list[str]) -> None:
    (tmp_path / "out").mkdir()
    assert _command(*batch[:40], "-o", "out/", "--jobs", "0", cwd=tmp_path).returncode in (0, 2)
    p = _command("--jobs", "-1", "in/g00-aarch64-virt-server.xml", cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr


@pytest.mark.slow
@pytest.mark.parametrize("whole_group", [True, False])
def test_a_ctrl_c_in_a_parallel_batch_changes_nothing_and_leaves_no_process(
        tmp_path: Path, whole_group: bool) -> None:
    """A terminal's Ctrl-C reaches every process of the group; ``kill -INT`` only the parent.
    Either way: status 130, one line, no temporary file, no output written, no worker left."""
    src = tmp_path / "in"
    src.mkdir()
    example = (EXAMPLES / "q35-server.xml").read_bytes()
    for n in range(3000):
        (src / f"g{n:04d}.xml").write_bytes(example)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "augmenter", "--boards", "embedded",
                             "-o", "out/", "-j", "2", *sorted(f"in/{p.name}" for p in
                                                            src.iterdir())],
                            cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while not _children_of(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # start-up and the first block, until the workers are forked
    assert _children_of(proc.pid), "no worker was started"
    time.sleep(0.3)
    if whole_group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "augment: interrupted"
    assert "Traceback" not in stderr
    assert list(out.iterdir()) == []
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # nobody of its group is left


# ---- the Python API ----------------------------------------------------------------------------


def test_augment_many_equals_one_call_per_document() -> None:
    import augmenter

    guests = sorted(p for p in EXAMPLES.glob("*.xml") if not p.name.endswith(".out.xml"))
    documents: list[str | bytes] = [p.read_bytes() for p in guests] * 4
    documents[5] = "<domain type='kvm'><name>x</name><devices/></domain>"  # no <os><type>
    documents[17] = b"not xml"
    options = augmenter.Options(boards="embedded")
    outcomes = augmenter.augment_many(documents, options, jobs=3)
    assert len(outcomes) == len(documents)
    for document, outcome in zip(documents, outcomes, strict=True):
        if outcome.ok:
            assert outcome.xml == augmenter.run(document, options).to_string()
        else:
            assert outcome.xml is None
            assert [f.severity for f in outcome.findings][:1] == ["error"]
            assert list(outcome.findings) == augmenter.check(document, options)
    assert [o.ok for o in outcomes].count(False) == 2


def test_a_process_with_other_threads_does_the_work_itself() -> None:
    """A fork copies only the calling thread: with others running, no worker is forked."""
    import threading

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not worth_forking(1000, 4)
        assert set(ordered_map(lambda _: os.getpid(), range(200), 4)) == {PARENT}
    finally:
        stop.set()
        other.join()
