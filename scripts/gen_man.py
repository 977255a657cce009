#!/usr/bin/env python3
"""Generate the man page ``man/augment.1`` from the ``augment`` command's typer app.

The page is built from what ``augment --help`` shows: the command's docstring (first line for
NAME, prose for DESCRIPTION, an "Examples:" block for EXAMPLES, an "Exit status:" paragraph for
EXIT STATUS) and every parameter with its help. No date goes in, so the output only changes when
the CLI does. Run it after changing ``augmenter/cli.py``::

    .venv/bin/python scripts/gen_man.py           # writes man/augment.1
    .venv/bin/python scripts/gen_man.py --check   # exit 1 if man/augment.1 is stale
    man -l man/augment.1                          # read it
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import typer.main  # noqa: E402

import augmenter  # noqa: E402
from augmenter.cli.app import app  # noqa: E402

PROG = "augment"
OUTPUT = ROOT / "man" / f"{PROG}.1"
SEE_ALSO = ("virsh(1)", "virt-xml-validate(1)", "qemu-system-x86_64(1)")
ABOUT = (
    "A QEMU machine type comes with implicit devices: a PCI root, an IDE or SATA controller, a "
    "USB controller, PS/2 input and so on. libvirt adds them to a domain definition, and gives "
    "every device its PCI, drive, virtio-serial or USB address, adding controllers, root ports "
    "and bridges as needed. augment does the same as libvirt 9.0's QEMU driver, without libvirt "
    "or QEMU, so that virsh define of its output changes nothing in the devices. Comments, "
    "metadata and the order of everything it does not add are kept."
)

# What augment does beyond libvirt 9.0 (docs/placement.md §20-§24): one paragraph each.
BEYOND = (
    "Where libvirt's own algorithm cannot place a guest (pc fails at 59 devices, 89-90, ...; "
    "q35 stops at 237), augment plans the topology itself: a root port per PCI Express "
    "endpoint while QEMU's 256 bus numbers last, PCIe switches once pcie-root has no function "
    "left, then pcie-to-pci-bridges and pci-bridges hung breadth-first. Guests libvirt can "
    "place are placed exactly as libvirt places them; --explain says which path was taken.",
    "--reserve-hotplug N leaves exactly N free hot-pluggable ports: empty root ports (or "
    "switch downstream ports) on PCIe machines, free slots of hot-pluggable buses on pc, "
    "where the board's own free slots count too. More than the guest can take is an error "
    "that says how many fit.",
    "--check warns when a q35 guest has more empty root ports than its firmware can open I/O "
    "windows on (measured: SeaBIOS 14, and only on ports that ask with io-reserve; OVMF 10), "
    "with the fix.",
    "--convert-to q35|pc prints every change it makes on standard error, one line each "
    "(with --format json, one JSON object each).",
    "--numa-aware reads each host device's NUMA node from "
    "/sys/bus/pci/devices/ADDR/numa_node; --host-numa gives them instead, as "
    "ADDR=NODE pairs separated by commas (0000:65:00.0=1,0000:b3:00.0=0).",
)


def esc(text: str) -> str:
    """Text safe for roff: backslashes escaped, no control character at a line start."""
    text = text.replace("\\", "\\e")
    return "\n".join("\\&" + ln if ln.startswith((".", "'")) else ln for ln in text.split("\n"))


def prose(text: str) -> str:
    """Running text: options in it (``--check``, ``-o``) get real minus signs."""
    return re.sub(r"(?<![\w-])(--?[A-Za-z][\w-]*)", lambda m: opt(m.group(1)), esc(text))


def opt(text: str) -> str:
    """An option or command word: hyphens as real minus signs, for copy and paste."""
    return esc(text).replace("-", "\\-")


def _bold_opts(names: str) -> str:
    """``-o, --output <str>`` -> bold option names, italic metavar."""
    out = []
    for part in names.split(", "):
        name, _, meta = part.partition(" ")
        item = f"\\fB{opt(name)}\\fR"
        if meta:
            item += f" \\fI{esc(meta.strip('<>'))}\\fR"
        out.append(item)
    return ", ".join(out)


def _paragraphs(doc: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", doc.strip("\n")) if p.strip()]


def _split_doc(doc: str) -> tuple[str, list[str], list[str], list[str]]:
    """(summary, description paragraphs, example lines, exit-status paragraphs)."""
    paras = _paragraphs(doc)
    summary = " ".join(paras[0].split()) if paras else ""
    description: list[str] = []
    examples: list[str] = []
    exit_status: list[str] = []
    section = "description"
    for para in paras[1:]:
        flat = " ".join(para.split())
        if flat.rstrip(":").lower() == "examples" and flat.endswith(":"):
            section = "examples"
            continue
        if flat.lower().startswith("exit status:"):
            exit_status.append(flat.split(":", 1)[1].strip())
            section = "description"
            continue
        if section == "examples" and para.startswith((" ", "\t")):
            examples += [ln.strip() for ln in para.splitlines() if ln.strip()]
            continue
        section = "description"
        description.append(flat)
    return summary, description, examples, exit_status


def _arguments(cmd: Any, ctx: Any) -> list[tuple[str, str, str]]:
    """(synopsis word, name, help) for each positional argument."""
    out = []
    for p in cmd.get_params(ctx):
        if getattr(p, "param_type_name", "") != "argument":
            continue
        word = (p.name or "arg").upper()
        if getattr(p, "nargs", 1) == -1:
            word += "..."
        if not getattr(p, "required", True):
            word = f"[{word}]"
        out.append((word, (p.name or "").upper(), getattr(p, "help", None) or ""))
    return out


def _options(cmd: Any, ctx: Any) -> list[tuple[str, str]]:
    out = []
    for p in cmd.get_params(ctx):
        if getattr(p, "param_type_name", "") != "option" or getattr(p, "hidden", False):
            continue
        record = p.get_help_record(ctx)
        if record is not None:
            out.append((record[0], record[1]))
    return out


def generate() -> str:
    cmd = typer.main.get_command(app)
    ctx = cmd.make_context(PROG, ["x"], resilient_parsing=True)
    summary, description, examples, exit_status = _split_doc(cmd.help or "")
    args = _arguments(cmd, ctx)
    lines = [
        '.\\" Generated by scripts/gen_man.py from augmenter.cli; do not edit by hand.',
        f'.TH {PROG.upper()} 1 "" "augmenter {augmenter.__version__}" "User Commands"',
        ".SH NAME",
        f"{PROG} \\- {esc(summary[:1].lower() + summary[1:].rstrip('.'))}",
        ".SH SYNOPSIS",
        f".B {PROG}",
        "[\\fIOPTIONS\\fR] " + " ".join(f"\\fI{esc(word)}\\fR" for word, _, _ in args),
        ".SH DESCRIPTION",
    ]
    for para in [summary, *description, ABOUT]:
        lines += [".PP", prose(para)]
    if args:
        lines.append(".SH ARGUMENTS")
        for _, name, help_text in args:
            lines += [".TP", f"\\fI{esc(name)}\\fR", prose(help_text)]
    lines.append(".SH OPTIONS")
    for names, help_text in _options(cmd, ctx):
        lines += [".TP", _bold_opts(names), prose(help_text)]
    lines.append(".SH BEYOND LIBVIRT")
    for para in BEYOND:
        lines += [".PP", prose(para)]
    if examples:
        lines.append(".SH EXAMPLES")
        for example in examples:
            lines += [".PP", ".RS 4", ".EX", opt(example), ".EE", ".RE"]
    if exit_status:
        lines.append(".SH EXIT STATUS")
        for para in exit_status:  # "0 done, 1 bad input, 2 usage error." -> a list
            for item in re.split(r",\s+(?=\d+\s)", para.rstrip(".")):
                code, _, meaning = item.partition(" ")
                lines += [".TP", f".B {esc(code)}", prose(meaning)]
    lines += [".SH SEE ALSO", ",\n".join(f".BR {ref.replace('(', ' (')}" for ref in SEE_ALSO)]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description="Generate man/augment.1 from the typer app.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args()
    text = generate()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run scripts/gen_man.py")
            return 1
        return 0
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
