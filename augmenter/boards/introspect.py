"""Ask QEMU itself what a machine type's board is, over QMP.

This is the one module that talks to QEMU, and the only one that imports ``qemu.qmp`` (lazily,
so that reading boards from the cache or the embedded table never pays for it). It starts
``qemu-system-ARCH -machine M -nodefaults -S`` with its monitor on one end of a socketpair (no
socket file, no start-up race), reads the board, and turns the replies into the typed records of
:mod:`augmenter.boards.records`; nothing else in augmenter sees a QMP reply.

What is read, and from where (``docs/architecture.md``, "Boards", for the whole picture):

* the bus tree, from QOM: starting at the system bus, each bus's ``child[N]`` links give the
  devices on it with their types, each device's ``child<BUS>`` properties give the buses it
  provides; a bus takes hotplug when its ``hotplug-handler`` link is set; ``addr`` gives a PCI
  device's devfn, ``iobase``/``unit``/``address``/``reg``/``devno``... other addresses;
* PCI class and vendor/device ids from ``query-pci``, joined on the root bus's devfn;
* machine types, aliases and the default from ``query-machines``; which device types exist
  (every concrete QOM type that implements ``device``, board-internal ones such as
  ``gpex-pcihost`` included: libvirt probes its capabilities the same way) and which of them
  are PCIe, conventional PCI or both from ``qom-list-types implements=...``.

A full QOM walk costs one round trip per device (~0.1 s per board). The versioned machine types
of a family (``pc-q35-*``, ``virt-*``...) nearly always build the same board, so when a board of
the family is already known, QEMU is first asked only for a fingerprint of its structure (the
``info qtree`` skeleton: buses, bus types, devices and their addresses) and the hotplug state of
the reference's buses; only when they differ is the board walked in full.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import re
import shutil
import signal
import socket
import struct
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .records import (
    Board,
    BoardBus,
    BoardDevice,
    BoardError,
    BuiltinPci,
    Catalogue,
    family_key,
    machine_order,
)

if TYPE_CHECKING:
    from qemu.qmp import QMPClient

DEFAULT_TIMEOUT = 5.0  # seconds for one QEMU: start, answer everything, quit
FINGERPRINT_VERSION = "qtree1"

Options = tuple[tuple[str, str], ...]
Progress = Callable[[str, "Board | IntrospectionError"], None]

SYSBUS = "/machine/unattached/sysbus"
_MODULE_NOTICE = re.compile(r"module \S+ not found")
PCI_KINDS = ("PCI", "PCIE")
# properties that give a device's address on its bus; read when the device has them
ADDRESS_PROPS = ("addr", "iobase", "unit", "address", "reg", "devno", "port", "nr",
                 "channel", "scsi-id", "lun")


FAILED, NEEDS_FIRMWARE, SKIPPED = "failed", "needs firmware", "skipped"


class IntrospectionError(BoardError):
    """QEMU could not describe a board: it is missing, refused the machine, hung or died.

    ``cacheable`` is true when QEMU itself refused (it exited with an error before answering):
    asking again would give the same answer, so the failure may be remembered. A timeout or a
    QEMU killed from outside is not cacheable.

    ``kind`` says what a listing should call it: :data:`FAILED`; :data:`NEEDS_FIRMWARE`, a board
    that will not start without a firmware, ROM or kernel file even with the stand-ins tried;
    :data:`SKIPPED`, a binary this host cannot run at all (only the kvm accelerator, and no
    usable ``/dev/kvm``)."""

    def __init__(self, binary: str, machine: str, reason: str, *,
                 cacheable: bool = False, kind: str = FAILED) -> None:
        super().__init__(f"{binary} -machine {machine}: {reason}")
        self.binary = binary
        self.machine = machine
        self.reason = reason
        self.cacheable = cacheable
        self.kind = kind


# ---- the accelerator -------------------------------------------------------------------------

KVM_DEVICE = "/dev/kvm"
_ACCELERATORS: dict[str, tuple[str, ...]] = {}


async def accelerators(binary: str, timeout: float = DEFAULT_TIMEOUT) -> tuple[str, ...]:
    """The accelerators ``binary -accel help`` lists (asked once per binary and process); ()
    when it cannot be asked (QEMU's own start then says why). Raises
    :class:`IntrospectionError` when QEMU does not answer within ``timeout``."""
    known = _ACCELERATORS.get(binary)
    if known is not None:
        return known
    try:
        proc = await asyncio.create_subprocess_exec(
            binary, "-accel", "help", stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True)
    except OSError:
        return ()
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise IntrospectionError(binary, "none", f"QEMU gave no answer to -accel help within "
                                 f"{timeout:g} s; killed") from None
    if proc.returncode:
        return ()
    lines = out.decode("utf-8", "replace").splitlines()
    found = tuple(ln.strip() for ln in lines[1:] if ln.strip() and " " not in ln.strip())
    _ACCELERATORS[binary] = found
    return found


def kvm_usable(device: str = KVM_DEVICE) -> bool:
    return os.path.exists(device) and os.access(device, os.R_OK | os.W_OK)


def choose_accelerator(binary: str, machine: str, available: Sequence[str],
                       kvm: bool) -> str:
    """TCG when the binary has it (it needs nothing of the host), else KVM where the host has
    it; :class:`IntrospectionError` of kind :data:`SKIPPED` when the binary has only KVM and
    the host has none (a KVM-only build such as Debian's ``qemu-system-x86_64-microvm``)."""
    if not available or "tcg" in available:
        return "tcg"  # () : an old QEMU that does not list them; TCG, as before
    if "kvm" in available:
        if kvm:
            return "kvm"
        raise IntrospectionError(
            binary, machine, f"this QEMU has only the kvm accelerator and {KVM_DEVICE} is "
            "absent or not usable here", kind=SKIPPED)
    return available[0]


# ---- stand-ins for firmware, ROM and kernel files --------------------------------------------

# What QEMU says when a board will not start without a file, and the stand-in that lets it
# start: an empty 64 KiB file as the board's parallel flash, as -kernel or as -bios, and last a
# minimal ELF image of the binary's CPU as -bios (e500 boards load their firmware as ELF).
# Tried in this order, each at most once; a flash image is resized to the size QEMU asks for.
# Besides files, a machine option QEMU itself suggests ("No Transactional Memory support in
# TCG; Try appending -machine cap-htm=off": pseries-2.8 to 2.11) is added for the start; it
# changes a CPU capability, not the board's buses, and the board does not record it.
_PFLASH = re.compile(r"\bpflash\b", re.IGNORECASE)
_KERNEL = re.compile(r"\bkernel\b", re.IGNORECASE)
_BIOS = re.compile(r"(?i:\b(bios|firmware|rom)\b)|ROM\b")
_SUGGESTED = re.compile(r"Try appending -machine ([a-z][a-z0-9-]*)=([a-z0-9-]+)")
FILE_STAND_INS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("pflash", _PFLASH), ("kernel", _KERNEL), ("bios", _BIOS), ("bios-elf", _BIOS))
STAND_INS = (*FILE_STAND_INS, ("machine-option", _SUGGESTED))
STAND_IN_SIZE = 64 * 1024
_FLASH_SIZE = re.compile(r"requires (\d+) bytes")

# qemu-system-NAME prefix -> (ELF e_machine, big-endian) of the stand-in ELF image
ELF_MACHINES = {"qemu-system-ppc": (20, True)}  # EM_PPC: the e500 boards are 32-bit


def stub_elf(machine: int, big: bool) -> bytes:
    """An ELF executable of one loadable segment at address 0: a branch to itself."""
    e = ">" if big else "<"
    code = b"\x48\x00\x00\x00" if big else b"\x00\x00\x00\x48"
    header = b"\x7fELF" + bytes([1, 2 if big else 1, 1]) + bytes(9)
    header += struct.pack(e + "HHIIIIIHHHHHH", 2, machine, 1, 0, 52, 0, 0, 52, 32, 1, 40, 0, 0)
    segment = struct.pack(e + "IIIIIIII", 1, 84, 0, 0, len(code), len(code), 5, 4)
    return header + segment + code


@dataclass
class StandIns:
    """The stand-in files offered to one board, in a scratch folder, and the arguments that
    give them to QEMU."""

    binary: str
    folder: str = ""  # made when the first stand-in is
    used: list[str] = dataclasses.field(default_factory=list)
    given: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # option -> args
    machine_options: Options = ()  # added to -machine for the start only

    @property
    def args(self) -> tuple[str, ...]:
        return tuple(a for args in self.given.values() for a in args)

    def next(self, reason: str) -> bool:
        """Add the stand-in QEMU's refusal ``reason`` asks for; False when none is left."""
        if not self.folder:
            self.folder = tempfile.mkdtemp(prefix="augmenter-stand-in-")
        flash = os.path.join(self.folder, "flash.img")
        size = _FLASH_SIZE.search(reason)
        if size is not None and "pflash" in self.used:
            if os.path.getsize(flash) == int(size.group(1)):
                return False
            with open(flash, "r+b") as fh:
                fh.truncate(int(size.group(1)))
            return True
        for name, pattern in STAND_INS:
            if name in self.used or not pattern.search(reason):
                continue
            if name == "machine-option":
                m = _SUGGESTED.search(reason)
                assert m is not None
                self.machine_options += ((m.group(1), m.group(2)),)
            elif name == "pflash":
                self._blank(flash)
                self.given["-drive"] = ("-drive", f"if=pflash,format=raw,file={flash}")
            elif name == "bios-elf":
                elf = self._elf()
                if elf is None:
                    continue
                self.given["-bios"] = ("-bios", elf)  # instead of the blank one
            else:
                self.given[f"-{name}"] = (f"-{name}",
                                          self._blank(os.path.join(self.folder, "blank.bin")))
            self.used.append(name)
            return True
        return False

    def remove(self) -> None:
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def hide(self, text: str) -> str:
        """``text`` without the scratch folder's name (it would make every message, and so
        every cache entry, different)."""
        return text.replace(self.folder + os.sep, "") if self.folder else text

    @staticmethod
    def _blank(path: str) -> str:
        if not os.path.exists(path):
            with open(path, "wb") as fh:
                fh.truncate(STAND_IN_SIZE)
        return path

    def _elf(self) -> str | None:
        name = os.path.basename(self.binary)
        arch = next((v for k, v in ELF_MACHINES.items() if name.startswith(k)), None)
        if arch is None:
            return None
        path = os.path.join(self.folder, "stub.elf")
        with open(path, "wb") as fh:
            fh.write(stub_elf(*arch))
        return path


def wants_a_file(reason: str) -> bool:
    """Whether QEMU's refusal names a missing firmware, ROM, kernel or flash image."""
    return any(pattern.search(reason) for _, pattern in FILE_STAND_INS)


def wants_a_stand_in(reason: str) -> bool:
    """Whether a stand-in may get QEMU past this refusal: a file, or an option it suggests."""
    return any(pattern.search(reason) for _, pattern in STAND_INS)


# ---- one paused QEMU -------------------------------------------------------------------------


def machine_arg(machine: str, options: Options = ()) -> str:
    """``-machine`` value: commas inside values are doubled, as QEMU's option parser wants."""
    return ",".join([machine, *(f"{k}={v.replace(',', ',,')}" for k, v in options)])


STDERR_KEPT = 8192  # bytes of QEMU's stderr kept for an error message; the rest is read, dropped


class _Qemu:
    """A paused, device-less QEMU with QMP on a socketpair; an async context manager.

    QEMU runs in a session (so a process group) of its own, and the whole group is killed
    when QEMU is done with, hangs or fails: nothing it started outlives it (issue 18, item 16).
    Its stderr is a pipe read as it comes, of which the first :data:`STDERR_KEPT` bytes are
    kept: however much it prints costs neither memory nor disk."""

    def __init__(self, binary: str, machine: str, options: Options = (), accel: str = "tcg",
                 extra: Sequence[str] = (), machine_extra: Options = ()) -> None:
        self.binary, self.machine, self.options = binary, machine, options
        self.accel, self.extra, self.machine_extra = accel, tuple(extra), machine_extra
        self.proc: asyncio.subprocess.Process | None = None
        self.client: QMPClient | None = None
        self._said = bytearray()
        self._drain: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None

    async def __aenter__(self) -> _Qemu:
        from qemu.qmp import QMPClient

        ours, theirs = socket.socketpair()
        self._sock = ours
        argv = [self.binary, "-machine",
                machine_arg(self.machine, (*self.options, *self.machine_extra)),
                "-accel", self.accel, "-nodefaults", "-S", "-display", "none",
                "-no-user-config", "-chardev", f"socket,id=qmp,fd={theirs.fileno()}",
                "-mon", "chardev=qmp,mode=control", *self.extra]
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE, pass_fds=(theirs.fileno(),),
                start_new_session=True)
        except OSError as err:
            ours.close()
            raise self.error(f"cannot start QEMU: {err.strerror or err}") from None
        finally:
            theirs.close()
        self._drain = asyncio.create_task(self._read_stderr())
        self.client = QMPClient(f"{os.path.basename(self.binary)}:{self.machine}")
        try:
            await self.client.connect(ours)
        except asyncio.CancelledError:  # a timeout
            await self.close(polite=False)
            raise
        except Exception:  # ConnectError: EOF, QEMU exited (bad option, missing firmware)
            failure = await self.died()
            await self.close(polite=False)
            raise failure from None
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        await self.close(polite=exc_type is None)

    async def close(self, polite: bool = True) -> None:
        """Quit QEMU (politely when all went well, else kill it) and make sure it is gone."""
        proc, client = self.proc, self.client
        if not polite:
            self.kill()
        if client is not None:
            with contextlib.suppress(Exception):
                if proc is not None and proc.returncode is None and client.runstate.name == \
                        "RUNNING":
                    await asyncio.wait_for(client.execute("quit"), 1.0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 1.0)
        if proc is not None and proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), 1.0)
            except (TimeoutError, asyncio.CancelledError):
                self.kill()
                with contextlib.suppress(Exception):
                    await asyncio.shield(proc.wait())
        self.kill()  # whatever QEMU started and left behind
        await self._stderr_closed()
        if self._sock is not None:
            self._sock.close()

    async def _stderr_closed(self) -> None:
        """Wait (a second at most) for QEMU's stderr to end, which it does once its group is
        dead: the event loop must see the pipe close before it ends, or it complains."""
        if self._drain is None:
            return
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(self._drain), 1.0)
        if not self._drain.done():
            self._drain.cancel()
            with contextlib.suppress(BaseException):
                await self._drain

    def kill(self) -> None:
        """Kill QEMU's process group: QEMU and everything it started (it leads the group)."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(1 << 16):
            room = STDERR_KEPT - len(self._said)
            if room > 0:
                self._said += chunk[:room]

    def error(self, reason: str, cacheable: bool = False) -> IntrospectionError:
        return IntrospectionError(self.binary, machine_arg(self.machine, self.options), reason,
                                  cacheable=cacheable)

    def stderr_text(self) -> str:
        """What QEMU said, its errors first: warnings and notices of modules a package would
        add (audio, display) come last, so that the reason is not cut off behind them."""
        text = bytes(self._said).decode("utf-8", "replace")
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        noise = [ln for ln in lines if "warning:" in ln or _MODULE_NOTICE.search(ln)]
        said = [ln for ln in lines if ln not in noise]
        return "; ".join((said + noise)[:4])

    async def died(self) -> IntrospectionError:
        """The error for a QEMU that stopped answering: its exit status and stderr."""
        proc = self.proc
        if proc is not None:
            try:
                await asyncio.wait_for(proc.wait(), 2.0)
            except TimeoutError:
                self.kill()
                await proc.wait()
                return self.error("QEMU closed its monitor but did not exit; killed")
        self.kill()  # what it started holds its stderr open: the last words come only then
        if self._drain is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(self._drain), 1.0)
        code = proc.returncode if proc is not None else None
        said = self.stderr_text()
        if code is not None and code < 0:
            return self.error(f"QEMU was killed by signal {-code} while being introspected"
                              + (f" ({said})" if said else ""))
        if code:
            # QEMU refused these arguments: the same command will fail the same way
            return self.error(said or f"QEMU exited with status {code}", cacheable=True)
        return self.error("QEMU exited before answering" + (f": {said}" if said else ""))

    async def execute(self, cmd: str, args: dict[str, object] | None = None) -> Any:
        """One QMP command. An error QEMU answers raises ExecuteError; a lost connection
        raises :class:`IntrospectionError` describing how QEMU died."""
        from qemu.qmp import ExecuteError

        assert self.client is not None
        try:
            return await self.client.execute(cmd, args)
        except ExecuteError:
            raise
        except Exception:
            raise await self.died() from None

    async def hmp(self, command: str) -> str:
        out = await self.execute("human-monitor-command", {"command-line": command})
        return str(out)


_ACCEL_CHOSEN: dict[str, str] = {}  # binary -> accelerator, for binaries that refuse TCG
_INVALID_ACCEL = re.compile(r"invalid accelerator")


async def _session(binary: str, machine: str, options: Options, timeout: float,
                   work: Callable[[_Qemu], Awaitable[Any]], *, stand_ins: bool = True) -> Any:
    """Start QEMU, run ``work`` on it within ``timeout``, stop QEMU whatever happened.

    QEMU runs under TCG; a binary built without it (Debian's KVM-only
    ``qemu-system-x86_64-microvm``) is asked which accelerators it has and started again with
    one (:func:`choose_accelerator`). A board that will not start without a firmware, ROM or
    kernel file is started again with stand-ins (:class:`StandIns`); when none helps, the
    error is of kind :data:`NEEDS_FIRMWARE`."""
    files = StandIns(binary)
    first: IntrospectionError | None = None
    accel = _ACCEL_CHOSEN.get(binary, "tcg")
    try:
        while True:
            try:
                return await _attempt(_Qemu(binary, machine, options, accel, files.args,
                                            files.machine_options), timeout, work)
            except IntrospectionError as err:
                if not err.cacheable:
                    raise
                if _INVALID_ACCEL.search(err.reason) and binary not in _ACCEL_CHOSEN:
                    accel = choose_accelerator(binary, machine_arg(machine, options),
                                               await accelerators(binary, timeout),
                                               kvm_usable())
                    _ACCEL_CHOSEN[binary] = accel
                    continue
                if not stand_ins or (first is None and not wants_a_stand_in(err.reason)):
                    raise
                first = first or err
                if not files.next(err.reason):
                    last = files.hide(err.reason)
                    raise IntrospectionError(
                        binary, machine_arg(machine, options),
                        f"{first.reason} (stand-ins did not help: {last})"
                        if last != first.reason else first.reason, cacheable=True,
                        kind=NEEDS_FIRMWARE if wants_a_file(first.reason) else FAILED) from None
    finally:
        files.remove()


async def _attempt(qemu: _Qemu, timeout: float, work: Callable[[_Qemu], Awaitable[Any]]
                   ) -> Any:
    from qemu.qmp import ExecuteError

    try:
        async with asyncio.timeout(timeout):
            async with qemu:
                return await work(qemu)
    except TimeoutError:
        qemu.kill()
        raise qemu.error(f"QEMU gave no answer within {timeout:g} s; killed") from None
    except ExecuteError as err:
        raise qemu.error(f"unexpected QMP error: {err}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise qemu.error(f"unexpected reply from QEMU ({type(err).__name__}: {err})") from None


def _run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


# ---- the catalogue: machine types and device types of a binary -------------------------------


async def catalogue_async(binary: str, *, timeout: float = DEFAULT_TIMEOUT) -> Catalogue:
    async def work(q: _Qemu) -> Catalogue:
        ver = await q.execute("query-version")
        machines = await q.execute("query-machines")
        pcie = await q.execute("qom-list-types", {"implements": "pci-express-device"})
        conv = await q.execute("qom-list-types", {"implements": "conventional-pci-device"})
        types = await q.execute("qom-list-types", {"implements": "device", "abstract": False})
        devices = frozenset(t["name"] for t in types)
        qv = ver["qemu"]
        aliases = {m["alias"]: m["name"] for m in machines if m.get("alias")}
        default = next((m["name"] for m in machines if m.get("is-default")), "")
        return Catalogue(
            binary=binary, version=f"{qv['major']}.{qv['minor']}.{qv['micro']}",
            package=str(ver.get("package", "")).strip().strip("()").strip(),
            default_machine=default, aliases=aliases,
            machines=tuple(sorted((m["name"] for m in machines), key=machine_order)),
            device_types=devices,
            pcie_types=frozenset(t["name"] for t in pcie) & devices,
            conventional_types=frozenset(t["name"] for t in conv) & devices,
            max_cpus={m["name"]: int(m["cpu-max"]) for m in machines if m.get("cpu-max")},
        )

    result: Catalogue = await _session(binary, "none", (), timeout, work, stand_ins=False)
    # a binary that would not start under TCG was started with another accelerator
    return dataclasses.replace(result, tcg=_ACCEL_CHOSEN.get(binary, "tcg") == "tcg")


def catalogue(binary: str, *, timeout: float = DEFAULT_TIMEOUT) -> Catalogue:
    """What ``binary`` offers (``-machine none``). Raises :class:`IntrospectionError`."""
    result: Catalogue = _run(catalogue_async(binary, timeout=timeout))
    return result


# ---- boards ----------------------------------------------------------------------------------


@dataclass
class _Dev:
    type: str
    address: dict[str, int | str]
    buses: list[str]
    multifunction: bool = False


@dataclass
class _Bus:
    name: str
    kind: str
    hotplug: bool
    owner: str | None
    parent: str | None
    path: str
    devices: list[_Dev]


def _link_type(qom_type: str, prefix: str) -> str | None:
    """``link<ich9-ahci>`` -> ``ich9-ahci`` (for prefix ``link``)."""
    if qom_type.startswith(prefix + "<") and qom_type.endswith(">"):
        return qom_type[len(prefix) + 1:-1]
    return None


def _child_index(name: str) -> int:
    m = re.fullmatch(r"child\[(\d+)\]", name)
    return int(m.group(1)) if m else -1


async def _walk(q: _Qemu) -> list[_Bus]:
    """Every bus from the system bus down, in pre-order, with the devices on each."""
    bus_types = {t["name"] for t in
                 await q.execute("qom-list-types", {"implements": "bus", "abstract": True})}
    out: list[_Bus] = []

    async def bus(path: str, name: str, kind: str, owner: str | None,
                  parent: str | None) -> None:
        props = await q.execute("qom-list", {"path": path})
        names = {p["name"] for p in props}
        hotplug = False
        if "hotplug-handler" in names:
            hotplug = bool(await q.execute("qom-get",
                                           {"path": path, "property": "hotplug-handler"}))
        record = _Bus(name, kind, hotplug, owner, parent, path, [])
        out.append(record)
        kids = sorted((_child_index(p["name"]), p["name"], _link_type(p["type"], "link"))
                      for p in props if _child_index(p["name"]) >= 0)
        for _, prop, dtype in kids:
            dpath = f"{path}/{prop}"
            dprops = await q.execute("qom-list", {"path": dpath})
            dnames = {p["name"] for p in dprops}
            dev = _Dev(dtype or "?", {}, [])
            for aprop in ADDRESS_PROPS:
                if aprop in dnames:
                    value = await q.execute("qom-get", {"path": dpath, "property": aprop})
                    if isinstance(value, int | str) and not isinstance(value, bool):
                        dev.address[aprop] = value
            if kind in PCI_KINDS and "multifunction" in dnames:
                dev.multifunction = bool(await q.execute(
                    "qom-get", {"path": dpath, "property": "multifunction"}))
            record.devices.append(dev)
            for p in dprops:
                btype = _link_type(p["type"], "child")
                if btype is not None and btype in bus_types:
                    dev.buses.append(p["name"])
                    await bus(f"{dpath}/{p['name']}", p["name"], btype, dev.type, name)

    sys_kind = await q.execute("qom-get", {"path": SYSBUS, "property": "type"})
    await bus(SYSBUS, "main-system-bus", str(sys_kind), None, None)
    return out


_SKELETON = re.compile(
    r"^\s*(bus: |type \S+$|dev: |class .*, addr "
    r"|(addr|multifunction|" + "|".join(ADDRESS_PROPS[1:]) + r") = )")


def fingerprint(qtree: str) -> str:
    """A digest of the board's structure from ``info qtree``: buses, their types, devices and
    their addresses, with the indentation that nests them; no other property values."""
    skeleton = "\n".join(ln.rstrip() for ln in qtree.splitlines() if _SKELETON.match(ln))
    return f"{FINGERPRINT_VERSION}:{hashlib.sha256(skeleton.encode()).hexdigest()[:32]}"


def _units(kind: str, owner: str | None) -> int | None:
    """Devices a bus holds, where QEMU has no property for it (its errors confirm these)."""
    if kind == "IDE":
        return 1 if owner is not None and "ahci" in owner else 2
    if kind == "floppy-bus":
        return 2
    return None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _assemble(machine: str, options: Options, buses: list[_Bus], pci_info: list[Any],
              print_: str) -> Board:
    root = next((b for b in buses if b.kind in PCI_KINDS and b.parent == "main-system-bus"),
                None)
    by_devfn: dict[tuple[int, int], Any] = {}
    for pbus in pci_info:
        if pbus.get("bus") == 0:
            for d in pbus.get("devices", ()):
                by_devfn[(d["slot"], d["function"])] = d
    pci: list[BuiltinPci] = []
    if root is not None:
        for dev in root.devices:
            devfn = dev.address.get("addr")
            if not isinstance(devfn, int):
                continue
            slot, function = devfn >> 3, devfn & 7
            info = by_devfn.get((slot, function), {})
            cls = info.get("class_info", {})
            ids = info.get("id", {})
            pci.append(BuiltinPci(
                slot, function, dev.type, dev.multifunction,
                class_name=_slug(cls.get("desc", "")) if cls.get("desc") else
                (f"class-{cls['class']:#06x}" if "class" in cls else ""),
                class_code=cls.get("class"),
                ids=f"{ids['vendor']:04x}:{ids['device']:04x}" if "vendor" in ids else "",
            ))
    pci.sort(key=lambda p: (p.slot, p.function))
    return Board(
        machine=machine,
        root_kind=root.kind if root else "",
        root_hotplug=root.hotplug if root else False,
        pci=tuple(pci),
        root_bus=root.name if root else "",
        buses=tuple(
            BoardBus(b.name, b.kind, b.hotplug, b.owner, b.parent, _units(b.kind, b.owner),
                     tuple(BoardDevice(d.type, tuple(d.address.items()), tuple(d.buses))
                           for d in b.devices), b.path)
            for b in buses
        ),
        options=options,
        fingerprint=print_,
    )


async def _pci_info(q: _Qemu, buses: Sequence[_Bus]) -> list[Any]:
    """``query-pci`` (class and ids of the root bus's devices), asked only of a board with a PCI
    bus: builds without PCI (avr, cris, m68k, microblaze, nios2, rx, tricore) answer it with
    an error, which means no PCI too."""
    from qemu.qmp import ExecuteError

    if not any(b.kind in PCI_KINDS for b in buses):
        return []
    try:
        info = await q.execute("query-pci")
    except ExecuteError:
        return []
    return list(info)


async def _resolved_machine(q: _Qemu, machine: str) -> str:
    qom_type = str(await q.execute("qom-get", {"path": "/machine", "property": "type"}))
    return qom_type.removesuffix("-machine") or machine


async def _same_as(q: _Qemu, reference: Board, print_: str) -> bool:
    """Whether this QEMU's board is the reference's: same skeleton, same hotplug states."""
    from qemu.qmp import ExecuteError

    if not reference.fingerprint or reference.fingerprint != print_:
        return False
    try:
        for b in reference.buses:
            if not b.path:
                return False
            handler = await q.execute("qom-get", {"path": b.path, "property": "hotplug-handler"})
            if bool(handler) != b.hotplug:
                return False
    except ExecuteError:
        return False
    return True


async def board_async(binary: str, machine: str, *, options: Iterable[tuple[str, str]] = (),
                      reference: Board | None = None,
                      timeout: float = DEFAULT_TIMEOUT) -> Board:
    """See :func:`board`."""
    opts: Options = tuple(sorted(options))

    async def work(q: _Qemu) -> Board:
        resolved = await _resolved_machine(q, machine)
        print_ = fingerprint(await q.hmp("info qtree"))
        if reference is not None and await _same_as(q, reference, print_):
            return dataclasses.replace(reference, machine=resolved, options=opts)
        buses = await _walk(q)
        return _assemble(resolved, opts, buses, await _pci_info(q, buses), print_)

    result: Board = await _session(binary, machine, opts, timeout, work)
    return result


def board(binary: str, machine: str, *, options: Iterable[tuple[str, str]] = (),
          reference: Board | None = None, timeout: float = DEFAULT_TIMEOUT) -> Board:
    """The board ``binary`` builds for ``machine`` (an alias is resolved: the board carries the
    canonical name). ``reference``: a known board of the same family, reused when QEMU's
    fingerprint matches it. Raises :class:`IntrospectionError`."""
    result: Board = _run(board_async(binary, machine, options=options, reference=reference,
                                     timeout=timeout))
    return result


async def boards_async(binary: str, machines: Sequence[str], *, jobs: int = 2,
                       options: Iterable[tuple[str, str]] = (),
                       references: dict[str, Board] | None = None,
                       timeout: float = DEFAULT_TIMEOUT,
                       progress: Progress | None = None,
                       share: bool = True) -> dict[str, Board | IntrospectionError]:
    """See :func:`boards`."""
    opts: Options = tuple(sorted(options))
    sem = asyncio.Semaphore(max(1, jobs))
    results: dict[str, Board | IntrospectionError] = {}
    families: dict[str, list[str]] = {}
    for m in sorted(machines, key=machine_order):  # the newest of a family is walked
        families.setdefault(family_key(m) if share else m, []).append(m)
    known = dict(references or {})

    async def one(machine: str, reference: Board | None) -> Board | IntrospectionError:
        async with sem:
            try:
                result: Board | IntrospectionError = await board_async(
                    binary, machine, options=opts, reference=reference, timeout=timeout)
            except IntrospectionError as err:
                result = err
        results[machine] = result
        if progress is not None:
            progress(machine, result)
        return result

    async def family(key: str, members: list[str]) -> None:
        reference = known.get(key)
        rest = members
        if reference is None:
            # walk members one by one until one works; it is the others' reference
            while rest and reference is None:
                got = await one(rest[0], None)
                rest = rest[1:]
                reference = got if isinstance(got, Board) else None
        await asyncio.gather(*(one(m, reference) for m in rest))

    # the biggest families first, so their references are ready early
    order = sorted(families.items(), key=lambda kv: -len(kv[1]))
    await asyncio.gather(*(family(k, v) for k, v in order))
    return {m: results[m] for m in machines}


def boards(binary: str, machines: Sequence[str], *, jobs: int = 2,
           options: Iterable[tuple[str, str]] = (), references: dict[str, Board] | None = None,
           timeout: float = DEFAULT_TIMEOUT, progress: Progress | None = None,
           share: bool = True) -> dict[str, Board | IntrospectionError]:
    """Boards of many machine types of one binary, ``jobs`` QEMUs at a time. A failure is
    returned in place of its board, not raised. ``references`` (family key -> board) spare full
    walks of families already known; otherwise the newest member of each family is walked and
    serves the others (``share=False``: walk every one in full)."""
    result: dict[str, Board | IntrospectionError] = _run(boards_async(
        binary, machines, jobs=jobs, options=options, references=references, timeout=timeout,
        progress=progress, share=share))
    return result
