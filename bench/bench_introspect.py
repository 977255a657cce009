#!/usr/bin/env python3
"""Board introspection speed: every x86_64 machine type cold, and a cached board load.

    .venv/bin/python bench/bench_introspect.py [--jobs 2] [--rounds 3] [--binary PATH]

Goals (issue 3): all machine types of qemu-system-x86_64 (59 in QEMU 7.2) introspected cold in
under 3 s with 2 jobs, and a cached board loaded in under 5 ms. "Cold" means no cache: the
catalogue (``-machine none``) and every board come from a QEMU started for them. The cache is
a private temporary folder, so the user's cache is neither used nor touched.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from augmenter.boards import introspect
from augmenter.boards import lookup as boards
from augmenter.boards.cache import BinaryId, BoardCache
from augmenter.boards.lookup import lookup
from augmenter.boards.records import Board, board_to_json


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the QEMUs), user + system."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def cold(binary: str, jobs: int, share: bool) -> tuple[float, float, int, int, int]:
    """Wall and CPU seconds for catalogue + every board; boards, failures, distinct boards."""
    start, cpu = time.perf_counter(), cpu_seconds()
    cat = introspect.catalogue(binary)
    got = introspect.boards(binary, cat.machines, jobs=jobs, share=share)
    elapsed, used = time.perf_counter() - start, cpu_seconds() - cpu
    ok = [b for b in got.values() if isinstance(b, Board)]
    return elapsed, used, len(ok), len(got) - len(ok), len({b.fingerprint for b in ok})


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=shutil.which("qemu-system-x86_64"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--full", action="store_true", help="also time a full walk of every type")
    args = ap.parse_args()
    if not args.binary:
        sys.exit("qemu-system-x86_64 not found (apt-get install qemu-system-x86)")
    binary = args.binary
    print(f"{binary}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")

    times, cpus = [], []
    for _ in range(args.rounds):
        elapsed, used, ok, failed, distinct = cold(binary, args.jobs, share=True)
        times.append(elapsed)
        cpus.append(used)
    print(f"cold, all {ok + failed} machine types ({ok} boards, {failed} failed, "
          f"{distinct} distinct structures), jobs={args.jobs}: "
          f"best {min(times):.2f} s, median {statistics.median(times):.2f} s "
          f"over {args.rounds} rounds  (goal < 3 s)")
    print(f"  CPU used (Python + QEMUs): median {statistics.median(cpus):.2f} s, "
          f"i.e. {statistics.median(cpus) / args.jobs:.2f} s of wall time on {args.jobs} "
          f"idle cores")
    if args.full:
        elapsed, used, ok, failed, _ = cold(binary, args.jobs, share=False)
        print(f"  for comparison, a full QOM walk of every type: {elapsed:.2f} s "
              f"({used:.2f} s CPU)")

    with tempfile.TemporaryDirectory() as home:
        os.environ["XDG_CACHE_HOME"] = home
        boards.clear_memo()
        emu = lookup("x86_64", binary, "qemu")
        first = emu.board("pc-q35-7.2")
        assert first is not None
        loads = []
        for _ in range(200):
            boards.clear_memo()
            start = time.perf_counter()
            emu = lookup("x86_64", binary, "qemu")
            board = emu.board("pc-q35-7.2")
            loads.append(time.perf_counter() - start)
            assert board is not None and board_to_json(board) == board_to_json(first)
        loads.sort()
        print(f"cached board load (stat + catalogue + board from disk, in process): "
              f"median {statistics.median(loads) * 1e3:.2f} ms, "
              f"p95 {loads[int(len(loads) * 0.95)] * 1e3:.2f} ms  (goal < 5 ms)")
        memo = []
        for _ in range(1000):
            start = time.perf_counter()
            lookup("x86_64", binary, "qemu").board("pc-q35-7.2")
            memo.append(time.perf_counter() - start)
        print(f"memoized board (second use in a process): "
              f"median {statistics.median(memo) * 1e6:.1f} us")
        store, bid = BoardCache(), BinaryId.of(binary)
        size = sum(p.stat().st_size for p in store.dir_for(bid).iterdir())
        print(f"cache folder: {size / 1024:.0f} KiB")
        code = ("import time; t0 = time.perf_counter(); "
                "from augmenter.boards.lookup import lookup; t1 = time.perf_counter(); "
                "b = lookup('x86_64', None, 'qemu').board('pc-q35-7.2');"
                " t2 = time.perf_counter(); print((t1 - t0) * 1e3, (t2 - t1) * 1e3)")
        imports, fresh = [], []
        for _ in range(5):
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True, env=os.environ)
            first, second = out.stdout.split()
            imports.append(float(first))
            fresh.append(float(second))
        print(f"  in a fresh process: median {statistics.median(fresh):.2f} ms "
              f"(after importing augmenter, {statistics.median(imports):.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
