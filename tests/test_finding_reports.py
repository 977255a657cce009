"""Reports of many findings: the bytes are those of one finding at a time (issue 18, Build 1).

A guest that refuses each of half a million devices has half a million findings, so the text
report escapes a block of lines with one scan and ``--format json`` is written a record at a
time instead of through ``json.dumps`` of a list of dictionaries. Each stays byte for byte what
the simple way writes: ``Finding.render`` per line, and ``json.dumps(records, indent=1)``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from augmenter.checks.findings import BLOCK, Finding, json_report, render_lines
from augmenter.cli.files import with_columns
from augmenter.errors import printable, printable_lines
from augmenter.pipeline import check

AUGMENT = [sys.executable, "-c", "from augmenter.cli.app import main; main()"]
# Anything a file name or a document's value may hold: controls, separators, bidi, surrogates.
TEXT = st.text(st.characters(blacklist_categories=()), max_size=12)
NAMED = st.sampled_from(["", "a", "\n", "\r\n", "\x1b[2J", "\u2028", "\u202e", "é", "\udcff",
                         '"', "\\", "%s", "\x00", "\x85"])
WORDS = st.one_of(TEXT, NAMED)
FINDINGS = st.builds(Finding, WORDS, st.sampled_from(["error", "warning"]), WORDS,
                     st.one_of(st.none(), st.integers(0, 10**6)),
                     st.one_of(st.none(), st.integers(0, 300)),
                     st.one_of(st.none(), WORDS), st.one_of(st.none(), WORDS))


def old_json(files: list[tuple[str, list[Finding]]]) -> str:
    """The report as it was made: a list of dictionaries through ``json.dumps``."""
    return json.dumps([{"file": name, **f.as_dict()} for name, fs in files for f in fs],
                      indent=1) + "\n"


def written(files: list[tuple[str, list[Finding]]]) -> str:
    out = io.StringIO()
    json_report(files, out.write)
    return out.getvalue()


@given(st.lists(st.tuples(WORDS, st.lists(FINDINGS, max_size=5)), max_size=4))
def test_json_report_is_json_dumps_of_the_records(files: list[tuple[str, list[Finding]]]) -> None:
    assert written(files) == old_json(files)


def test_json_report_of_no_findings_is_an_empty_list() -> None:
    assert written([]) == "[]\n"
    assert written([("a.xml", [])]) == "[]\n"


def test_json_report_across_blocks_keeps_every_record_in_order() -> None:
    many = [Finding("duplicate-device", "error", f"panic isa: number {i}", i + 1, 5,
                    "panic isa", None if i % 3 else "keep one") for i in range(2 * BLOCK + 7)]
    files = [("a.xml", many), ("b.xml", []), ("c \u00e9.xml", many[:3])]
    text = written(files)
    assert text == old_json(files)
    assert [r["line"] for r in json.loads(text)] == [*range(1, 2 * BLOCK + 8), 1, 2, 3]


@given(st.lists(FINDINGS, max_size=6), WORDS)
def test_text_lines_are_each_finding_rendered(findings: list[Finding], name: str) -> None:
    assert render_lines(name, findings) == "".join(f.render(name) + "\n" for f in findings)


@given(st.lists(WORDS, max_size=6))
def test_printable_lines_escape_each_line_alone(lines: list[str]) -> None:
    text = printable_lines(lines)
    assert text == "".join(printable(line) + "\n" for line in lines)
    assert text.count("\n") == len(lines)


def old_column(f: Finding, lines: list[bytes]) -> int | None:
    """The column as the report found it, one finding at a time."""
    if not f.line or f.line > len(lines):
        return f.column
    raw = lines[f.line - 1]
    at = raw.find(b"<address")
    if at < 0:
        at = raw.find(b"<")
    return len(raw[:at].decode("utf-8", "replace")) + 1 if at >= 0 else None


def test_columns_count_characters_before_the_element() -> None:
    data = "<a>\n  <b/>\n\u00e9\u00e9 <c/>\n<d/><address/>\nno element\n".encode() + b"\xff <e/>"
    lines = data.split(b"\n")
    findings = [Finding("x", "error", "m", line) for line in (None, 0, 1, 2, 3, 4, 5, 6, 7, 99)]
    located = with_columns(findings, data)
    assert [f.column for f in located] == [old_column(f, lines) for f in findings]
    assert [f.column for f in located][2:8] == [1, 3, 4, 5, None, 3]
    assert [f._replace(column=None) for f in located] == findings


def panics(count: int) -> str:
    """A q35 guest with ``count`` ISA panic devices: each after the first is refused."""
    body = "".join("    <panic model='isa'/>\n" for _ in range(count))
    return ("<domain type='kvm'>\n  <name>p</name>\n  <memory unit='GiB'>1</memory>\n"
            "  <os><type arch='x86_64' machine='q35'>hvm</type></os>\n  <devices>\n"
            f"{body}  </devices>\n</domain>\n")


def test_check_json_of_many_findings_is_the_records_of_check(tmp_path: Path) -> None:
    guest = tmp_path / "many.xml"
    guest.write_text(panics(BLOCK + 10))
    run = subprocess.run([*AUGMENT, "--boards", "embedded", "--check", "--format", "json",
                          str(guest)], capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 1 and run.stderr == ""
    findings = with_columns(check(guest.read_bytes()), guest.read_bytes())
    assert len(findings) == BLOCK + 9
    assert run.stdout == old_json([(str(guest), findings)])
    text = subprocess.run([*AUGMENT, "--boards", "embedded", "--check", str(guest)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert text.stderr == "".join(f.render(str(guest)) + "\n" for f in findings)


def shmems(count: int) -> str:
    """A q35 guest with ``count`` shmem devices: the embedded QEMU has no ivshmem."""
    body = "".join(f"    <shmem name='s{i}'/>\n" for i in range(count))
    return panics(0).replace("  </devices>", body + "  </devices>")


def test_refusals_of_one_kind_share_their_words() -> None:
    """Half a million devices refused for one reason hold one copy of its words, not one
    each (about 115 MB at that size)."""
    for guest, count in ((panics(50), 49), (shmems(50), 50)):
        findings = check(guest.encode())
        assert len(findings) == count
        for field in ("message", "device", "hint"):
            assert len({id(getattr(f, field)) for f in findings}) == 1, field
