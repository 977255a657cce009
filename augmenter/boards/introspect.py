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
import socket
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

MachineOptions = tuple[tuple[str, str], ...]
Progress = Callable[[str, "Board | IntrospectionError"], None]

SYSBUS = "/machine/unattached/sysbus"
PCI_KINDS = ("PCI", "PCIE")
# properties that give a device's address on its bus; read when the device has them
ADDRESS_PROPS = ("addr", "iobase", "unit", "address", "reg", "devno", "port", "nr",
                 "channel", "scsi-id", "lun")


class IntrospectionError(BoardError):
    """QEMU could not describe a board: it is missing, refused the machine, hung or died.

    ``cacheable`` is true when QEMU itself refused (it exited with an error before answering):
    asking again would give the same answer, so the failure may be remembered. A timeout or a
    QEMU killed from outside is not cacheable."""

    def __init__(self, binary: str, machine: str, reason: str, *,
                 cacheable: bool = False) -> None:
        super().__init__(f"{binary} -machine {machine}: {reason}")
        self.binary = binary
        self.machine = machine
        self.reason = reason
        self.cacheable = cacheable


# ---- one paused QEMU -------------------------------------------------------------------------


def machine_arg(machine: str, options: MachineOptions = ()) -> str:
    """``-machine`` value: commas inside values are doubled, as QEMU's option parser wants."""
    return ",".join([machine, *(f"{k}={v.replace(',', ',,')}" for k, v in options)])


class _Qemu:
    """A paused, device-less QEMU with QMP on a socketpair; an async context manager."""

    def __init__(self, binary: str, machine: str, options: MachineOptions = ()) -> None:
        self.binary, self.machine, self.options = binary, machine, options
        self.proc: asyncio.subprocess.Process | None = None
        self.client: QMPClient | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self._sock: socket.socket | None = None

    async def __aenter__(self) -> _Qemu:
        from qemu.qmp import QMPClient

        ours, theirs = socket.socketpair()
        self._sock = ours
        argv = [self.binary, "-machine", machine_arg(self.machine, self.options),
                "-accel", "tcg", "-nodefaults", "-S", "-display", "none", "-no-user-config",
                "-chardev", f"socket,id=qmp,fd={theirs.fileno()}",
                "-mon", "chardev=qmp,mode=control"]
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=self._stderr, pass_fds=(theirs.fileno(),), start_new_session=True)
        except OSError as err:
            ours.close()
            self._stderr.close()
            raise self.error(f"cannot start QEMU: {err.strerror or err}") from None
        finally:
            theirs.close()
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
        if self._sock is not None:
            self._sock.close()
        self._stderr.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    def error(self, reason: str, cacheable: bool = False) -> IntrospectionError:
        return IntrospectionError(self.binary, machine_arg(self.machine, self.options), reason,
                                  cacheable=cacheable)

    def stderr_text(self) -> str:
        try:
            self._stderr.seek(0)
            text = self._stderr.read(8192).decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        return "; ".join(lines[:4])

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


async def _session(binary: str, machine: str, options: MachineOptions, timeout: float,
                   work: Callable[[_Qemu], Awaitable[Any]]) -> Any:
    """Start QEMU, run ``work`` on it within ``timeout``, stop QEMU whatever happened."""
    from qemu.qmp import ExecuteError

    qemu = _Qemu(binary, machine, options)
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
        )

    result: Catalogue = await _session(binary, "none", (), timeout, work)
    return result


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


def _assemble(machine: str, options: MachineOptions, buses: list[_Bus], pci_info: list[Any],
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
    opts: MachineOptions = tuple(sorted(options))

    async def work(q: _Qemu) -> Board:
        resolved = await _resolved_machine(q, machine)
        print_ = fingerprint(await q.hmp("info qtree"))
        if reference is not None and await _same_as(q, reference, print_):
            return dataclasses.replace(reference, machine=resolved, options=opts)
        buses = await _walk(q)
        pci_info = await q.execute("query-pci")
        return _assemble(resolved, opts, buses, pci_info, print_)

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
    opts: MachineOptions = tuple(sorted(options))
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
