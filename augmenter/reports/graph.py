"""A picture of the topology: Graphviz DOT text from the networkx graph, rendered by ``dot``.

:func:`topology_dot` needs nothing but Python. :func:`render` writes ``.dot``/``.gv`` itself and
runs Graphviz's ``dot`` program (Debian package ``graphviz``) for ``.svg`` and ``.png``.

Drawing conventions: every PCI bus is a cluster headed by the controller that provides it; a
PCI Express link is a solid blue edge, a conventional PCI link a dashed grey one; free
hot-pluggable slots are small dashed boxes; drive, virtio-serial, USB and ccid addresses hang
from their controller by dotted edges; devices without an address sit in a cluster of their own.
Every device of the domain is one node, named ``dev<N>`` (N is its position in the domain's
device list), so the SVG has one ``<g class="node">`` titled ``dev<N>`` per device.
"""

from __future__ import annotations

import contextlib
import errno
import html
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..model.connect import Connect
from ..model.domain import Device
from .explain import explain_data, free_hotplug_slots, link_kind, reason

if TYPE_CHECKING:
    from .explain import Placed

FONT = "Helvetica,Arial,sans-serif"
FILL = {"user": "#d8f0d2", "implicit": "#fff0c2", "board": "#e0e0e0", "reserved": "#f0d8f0"}
LINK_STYLE = {
    "pcie": 'color="#1f5fbf", style=solid, penwidth=1.6',
    "pci": 'color="#808080", style=dashed, penwidth=1.0',
}
ADDRESS_EDGE = 'color="#9a9a9a", style=dotted, arrowhead=none'
FORMATS = {".svg": "svg", ".png": "png"}
TEXT_SUFFIXES = (".dot", ".gv")
FREE_PER_COLUMN = 8  # free slots of one bus are drawn as a grid, this many high


class GraphError(Exception):
    """The picture cannot be made: unknown file type, or Graphviz's ``dot`` is missing/failed."""


def quote(text: str) -> str:
    """A DOT double-quoted string; ``\\n`` in ``text`` stays a line break."""
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{body}"'


def _attrs(**kw: str | None) -> str:
    parts = []
    for key, value in kw.items():
        if value is None:
            continue
        parts.append(f"{key}={value}" if key == "_raw" or value.startswith('"') else
                     f"{key}={quote(value)}")
    return ", ".join(parts)


class _Dot:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1

    def add(self, line: str) -> None:
        self.lines.append("  " * self.depth + line)

    def node(self, name: str, **kw: str | None) -> None:
        self.add(f"{name} [{_attrs(**kw)}];")

    def edge(self, a: str, b: str, style: str, **kw: str | None) -> None:
        extra = _attrs(**kw)
        self.add(f"{a} -> {b} [{style}{', ' + extra if extra else ''}];")

    def open(self, name: str, label: str, **kw: str | None) -> None:
        self.add(f"subgraph {name} {{")
        self.depth += 1
        self.add(f"label={quote(label)};")
        for key, value in kw.items():
            if value is not None:
                self.add(f"{key}={quote(value)};")

    def close(self) -> None:
        self.depth -= 1
        self.add("}")


def _device_node(dot: _Dot, rec: dict[str, Any], extra: str = "", shape: str = "box") -> None:
    label = rec["name"]
    if rec["detail"] and rec["detail"] not in label:
        label += f"\n{rec['detail']}"
    if extra:
        label += f"\n{extra}"
    dot.node(f"dev{rec['id']}", label=label, id=f"dev{rec['id']}", shape=shape,
             fillcolor=FILL.get(rec["origin"], "white"), tooltip=reason(rec))


def topology_dot(result: Placed) -> str:
    """The topology of an augmented domain as Graphviz DOT text."""
    guest = result.guest
    data = explain_data(result)
    recs: list[dict[str, Any]] = data["devices"]
    ids = {dev: i for i, dev in enumerate(guest.dom.devices)}
    title = f"{data['domain'] or 'domain'}  ({data['machine']}, {data['arch']})"
    legend = ("green: written by the user, yellow: added by libvirt's rules, grey: built into "
              "the board; solid blue: PCI Express link, dashed grey: conventional PCI link, "
              f"small dashed box: free hot-plug slot ({data['hotplug']['free']} free)")
    label = (f"<<b>{html.escape(title)}</b><br/>"
             f'<font point-size="8">{html.escape(legend)}</font>>')
    dot = _Dot()
    dot.lines.append("digraph topology {")
    dot.add(f"graph [rankdir=LR, fontname={quote(FONT)}, fontsize=11, labelloc=t, "
            f"label={label}, nodesep=0.12, ranksep=0.45, newrank=true, ordering=out];")
    dot.add(f'node [fontname={quote(FONT)}, fontsize=9, shape=box, style="rounded,filled", '
            'fillcolor=white, height=0.3];')
    dot.add(f"edge [fontname={quote(FONT)}, fontsize=8, arrowsize=0.6];")

    head: dict[int, str] = {}  # bus index -> the node that stands for the bus
    topo = guest.topology
    board = {(b.slot, b.function): b.type for b in guest.board.pci} if guest.board else {}
    if topo is not None:
        pci_ctrls = {d.index: d for d in guest.dom.controllers if d.type == "pci"}
        for bus in topo.buses:
            node: Hashable = ("bus", bus.index)
            ctrl = pci_ctrls.get(bus.index)
            kind = "PCI Express" if link_kind(bus) == "pcie" else "conventional PCI"
            hot = ", hot-plug" if bus.flags & Connect.HOTPLUG else ""
            dot.open(f"cluster_bus{bus.index}", f"bus {bus.index}: {bus.model} ({kind}{hot})",
                     style="rounded", color="#1f5fbf" if link_kind(bus) == "pcie" else "#808080",
                     fontsize="10")
            if ctrl is not None:
                _device_node(dot, recs[ids[ctrl]], shape="box3d")
                head[bus.index] = f"dev{ids[ctrl]}"
            else:
                head[bus.index] = f"bus{bus.index}"
                dot.node(head[bus.index], label=f"bus {bus.index}\n{bus.model}", shape="box3d")
            for _, owner, _e in sorted(topo.graph.out_edges(node, data=True),
                                       key=lambda e: (e[2]["slot"], e[2]["function"])):
                if isinstance(owner, Device):
                    if owner.tag == "controller" and owner.type == "pci":
                        continue  # drawn as the head of its own cluster
                    _device_node(dot, recs[ids[owner]])
                elif isinstance(owner, tuple) and owner and owner[0] == "board":
                    _, slot, function = owner
                    dot.node(f"board_{bus.index}_{slot}_{function}",
                             label=board.get((slot, function), "board"), fillcolor=FILL["board"],
                             tooltip="built into the board")
                else:
                    dot.node(_owner_name(owner), label=str(owner), fillcolor=FILL["reserved"])
            if bus.index == 0:  # the host bridge and other built-ins below the slot range
                for (slot, function), btype in sorted(board.items()):
                    if slot < bus.min_slot:
                        dot.node(f"board_0_{slot}_{function}", label=btype,
                                 fillcolor=FILL["board"], tooltip="built into the board")
            for slot in free_hotplug_slots(bus):
                dot.node(f"free_{bus.index}_{slot}", label=f"{slot:02x}", shape="box",
                         style="dashed", fontsize="7", width="0.25", height="0.18",
                         margin="0.02", tooltip=f"free hot-plug slot {bus.index:02x}:{slot:02x}")
            dot.close()
        for bus in topo.buses:
            node = ("bus", bus.index)
            style = LINK_STYLE[link_kind(bus)]
            free_style = (style.replace("solid", "dotted").replace("dashed", "dotted")
                          + ", arrowhead=none")
            links: list[tuple[int, int, str, str, str | None]] = []
            target: str
            for _, owner, edata in topo.graph.out_edges(node, data=True):
                slot, function = edata["slot"], edata["function"]
                if isinstance(owner, Device):
                    target = f"dev{ids[owner]}"
                elif isinstance(owner, tuple) and owner and owner[0] == "board":
                    target = f"board_{bus.index}_{owner[1]}_{owner[2]}"
                else:
                    target = _owner_name(owner)
                links.append((slot, function, target, style, f"{slot:02x}.{function}"))
            if bus.index == 0:
                links += [(slot, function, f"board_0_{slot}_{function}", style,
                           f"{slot:02x}.{function}")
                          for (slot, function) in board if slot < bus.min_slot]
            free = free_hotplug_slots(bus)
            cols = [free[i:i + FREE_PER_COLUMN] for i in range(0, len(free), FREE_PER_COLUMN)]
            links += [(slot, 0, f"free_{bus.index}_{slot}", free_style, None)
                      for slot in cols[0]] if cols else []
            for _slot, _function, target, how, text in sorted(links):
                dot.edge(head[bus.index], target, how, label=text)
            for left, right in itertools.pairwise(cols):  # a grid, not a long column
                for a, b in zip(left, right, strict=False):
                    dot.edge(f"free_{bus.index}_{a}", f"free_{bus.index}_{b}", "style=invis",
                             minlen="1")

    # drive, virtio-serial, USB and ccid addresses, under their controllers
    for kind, groups in data["addresses"].items():
        for g in groups:
            dot.open(f"cluster_{_ident(kind)}_{_ident(g['type'])}{g['index']}",
                     f"{kind}: controller {g['type']} {g['index']}", style="rounded,dashed",
                     color="#9a9a9a", fontsize="9")
            for e in _flatten(g["entries"]):
                _device_node(dot, recs[e["device"]], extra=e["address"])
            dot.close()
            parent = f"dev{g['controller']}" if g["controller"] is not None else None
            for e, up in _walk(g["entries"], parent):
                if up is not None:
                    dot.edge(up, f"dev{e['device']}", ADDRESS_EDGE)
    for kind, entries in sorted(data["other_addresses"].items()):
        dot.open(f"cluster_other_{_ident(kind)}", f"{kind} addresses", style="rounded,dashed",
                 color="#9a9a9a", fontsize="9")
        for e in entries:
            _device_node(dot, recs[e["device"]], extra=e["address"])
        dot.close()
    if data["unaddressed"]:
        dot.open("cluster_none", "no address", style="rounded,dashed", color="#9a9a9a",
                 fontsize="9")
        for e in data["unaddressed"]:
            _device_node(dot, recs[e["device"]])
        dot.close()
    dot.lines.append("}")
    return "\n".join(dot.lines) + "\n"


def _owner_name(owner: Hashable) -> str:
    return "reserved_" + _ident(str(owner))


def _ident(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)


def _flatten(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in entries:
        out.append(e)
        out += _flatten(e.get("children", []))
    return out


def _walk(entries: list[dict[str, Any]],
          parent: str | None) -> list[tuple[dict[str, Any], str | None]]:
    out: list[tuple[dict[str, Any], str | None]] = []
    for e in entries:
        out.append((e, parent))
        out += _walk(e.get("children", []), f"dev{e['device']}")
    return out


# -- rendering ---------------------------------------------------------------------------------
def dot_program() -> str | None:
    """Path of Graphviz's ``dot``, or None when it is not installed."""
    return shutil.which("dot")


DOT_TIMEOUT = 30.0  # seconds dot may take; a few hundred devices take well under one


def run_dot(dot_text: str, fmt: str, timeout: float = DOT_TIMEOUT) -> bytes:
    """Render DOT text with Graphviz (``fmt``: ``svg``, ``png``, ...).

    ``dot`` runs in its own process group and the whole group is killed after ``timeout``
    seconds (a huge or hostile graph could keep it busy for hours); what it says on failure
    is quoted, cut to a line."""
    exe = dot_program()
    if exe is None:
        raise GraphError("Graphviz's 'dot' program is needed to draw SVG or PNG pictures "
                         "(Debian package graphviz); .dot files can be written without it")
    try:
        proc = subprocess.Popen([exe, f"-T{fmt}"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except OSError as exc:
        raise GraphError(f"cannot run {exe}: {exc.strerror or exc}") from None
    try:
        out, err = proc.communicate(dot_text.encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        raise GraphError(f"{exe} gave no picture within {timeout:g} s; stopped") from None
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # dot and anything it started
        proc.wait()
    if proc.returncode != 0:
        said = " ".join(err[:2000].decode("utf-8", "replace").split())
        raise GraphError(f"dot failed (exit {proc.returncode}): {said}")
    return out


def picture(result: Placed, name: str) -> bytes:
    """The picture of the topology, in the format ``name``'s suffix says: ``.dot``/``.gv``
    as text, ``.svg``/``.png`` drawn by ``dot``. Raises :class:`GraphError` for another
    suffix or when ``dot`` is missing or fails."""
    suffix = Path(name).suffix.lower()
    text = topology_dot(result)
    if suffix in TEXT_SUFFIXES:
        return text.encode("utf-8")
    if suffix in FORMATS:
        return run_dot(text, FORMATS[suffix])
    known = ", ".join((*TEXT_SUFFIXES, *FORMATS))
    raise GraphError(f"cannot tell the picture format from '{Path(name).name}': use one of "
                     f"{known}")


def render(result: Placed, path: str | os.PathLike[str]) -> Path:
    """Write the picture to ``path`` (see :func:`picture`), atomically: a temporary file in
    the same folder, then a rename. Returns the path written. Raises :class:`GraphError`,
    also when the file cannot be written (a missing folder, a directory in the way)."""
    out = Path(path)
    data = picture(result, str(out))
    folder = out.parent if str(out.parent) else Path(".")
    tmp = None
    try:
        if out.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, out.stat().st_mode & 0o7777 if out.exists() else 0o666 & ~mask)
        os.replace(tmp, out)
    except OSError as exc:
        raise GraphError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None and os.path.lexists(tmp):
            Path(tmp).unlink(missing_ok=True)
    return out
