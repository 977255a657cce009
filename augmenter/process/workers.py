"""Spreading a batch over the machine's CPUs, with the results still in input order.

Guests are independent of one another, so a batch (``augment -o DIR/ *.xml``, ``augment
--check *.xml``) splits into blocks of a few inputs, handed round-robin to worker processes
forked from this one once its modules are loaded: a fork shares them copy-on-write, so a
worker starts in about a millisecond instead of paying Python's and lxml's start-up again.
Each worker streams its blocks' results back through a pipe, and this process takes them
block by block, in input order. Every message and every output therefore comes out exactly
as a one-process run makes them; only the work itself runs in parallel.

The work function must be deterministic and return its results as picklable data rather than
printing them. That is also what makes the design safe: a worker that dies, or whose work
raised, leaves its blocks to this process, which does them itself. The outcome is the same,
just later, and an exception a worker met is raised here as a one-process run would raise it.

The module knows nothing of guests: the command's augment and check modes and
:func:`augmenter.augment_many` hand it their work. This process does the first block itself
before forking, so boards and other per-process memos are loaded once and shared.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Generator, Sequence
from typing import IO, Generic, NoReturn, TypeVar

from . import sigint

T = TypeVar("T")
R = TypeVar("R")

BLOCK = 8  # inputs per block: small enough to balance the load, large enough to be cheap
BLOCKS_PER_WORKER = 2  # fewer workers than asked when each would get less: a fork is not free
_PIPE_BYTES = 1 << 20  # a worker can run a few blocks ahead before the reader catches up


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and taskset narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def worth_forking(items: int, jobs: int) -> bool:
    """Whether workers would pay (a fork costs about a millisecond, one input about one) and
    are safe: a fork copies only the calling thread, so in a process that runs others (an
    application using the API), a lock one of them held would stay locked in every worker."""
    if jobs <= 1 or items <= 2 * BLOCK or not hasattr(os, "fork"):
        return False
    import threading  # here: a one-file run never needs it (nor pickle), and each costs ms

    return threading.active_count() == 1


def ordered_map(work: Callable[[T], R], items: Sequence[T],
                jobs: int) -> Generator[R, None, None]:
    """``work(item)`` for each item, yielded in the items' order, over up to ``jobs`` processes.

    ``jobs`` counts the worker processes; this process only orders and hands on their results
    (the caller's writing and printing), so ``jobs`` equal to the CPU count keeps them busy.
    """
    if not worth_forking(len(items), jobs):
        yield from map(work, items)
        return
    blocks = [items[i:i + BLOCK] for i in range(0, len(items), BLOCK)]
    yield from map(work, blocks[0])
    rest = blocks[1:]
    workers: list[_Worker[R]] = []
    try:
        count = max(1, min(jobs, len(rest) // BLOCKS_PER_WORKER))
        for w in range(count):
            workers.append(_Worker.start(work, rest[w::count], [x.fd for x in workers]))
        for i, block in enumerate(rest):
            results = workers[i % len(workers)].next_block()
            yield from results if results is not None else map(work, block)
    finally:
        for worker in workers:
            worker.stop()


class _Worker(Generic[R]):
    """One forked worker: its pid and the read end of the pipe it writes its results to."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd = fd
        self.stream: IO[bytes] | None = os.fdopen(fd, "rb")

    @classmethod
    def start(cls, work: Callable[[T], R], blocks: Sequence[Sequence[T]],
              inherited: Sequence[int]) -> _Worker[R]:
        """Fork a worker for ``blocks``; ``inherited`` are earlier workers' pipes to close."""
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError, AttributeError):  # a larger pipe where Linux has one
            import fcntl

            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        sys.stdout.flush()
        sys.stderr.flush()
        with sigint.held() as mask:  # a Ctrl-C right after the fork must not reach our code
            pid = os.fork()
            if pid == 0:
                _serve(work, blocks, write_fd, [read_fd, *inherited], mask)  # never returns
        os.close(write_fd)
        return cls(pid, read_fd)

    def next_block(self) -> list[R] | None:
        """The worker's next block of results, or None when it has none to give (gone)."""
        if self.stream is None:
            return None
        import pickle

        try:
            results: list[R] | None = pickle.load(self.stream)
        except (EOFError, OSError, pickle.UnpicklingError):
            results = None
        if results is None:
            self.stop()
        return results

    def stop(self) -> None:
        """Close the pipe, end the worker if it still runs, and reap it."""
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _serve(work: Callable[[T], R], blocks: Sequence[Sequence[T]], fd: int,
           not_ours: Sequence[int], mask: sigint.Mask) -> NoReturn:
    """A worker's life: each block's results down the pipe, then a silent exit.

    The pipes ``not_ours`` (this worker's read end, earlier workers' pipes) are closed first:
    open here, they would keep a worker blocked on a full pipe after the parent died.
    A Ctrl-C goes to the whole process group and the parent reports it, so a worker just
    ends: SIGINT is back to its default action (killing) before it is unblocked. ``os._exit``
    skips, whatever happens, the parent's exit handlers, buffered output and ``finally``
    blocks, which are not the worker's (one of them removes the parent's staged files).
    """
    status = 0
    try:
        import pickle

        for signum in sigint.HELD:  # the parent's handlers are not the worker's
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for other in not_ours:
            os.close(other)
        with os.fdopen(fd, "wb") as out:
            for block in blocks:
                try:
                    results: list[R] | None = [work(item) for item in block]
                except Exception:  # the parent redoes this block and meets it itself
                    results = None
                pickle.dump(results, out, protocol=pickle.HIGHEST_PROTOCOL)
                out.flush()
                if results is None:
                    break
    except BaseException:  # a closed pipe (the parent is gone), or anything else: just end
        status = 1
    finally:
        os._exit(status)
