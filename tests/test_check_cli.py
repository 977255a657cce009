"""``augment --check``: the text and JSON formats, the exit codes and ``--strict`` (issue 4).

The command runs as a separate process (the installed entry point's ``main``), so exit codes,
stdout and stderr are the ones a shell or a pre-commit hook sees. Boards come from the shipped
table (``--boards embedded``) so the findings are the same on every machine.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_checks import (
    MAC1,
    MAC2,
    codes_in_checks,
    controller,
    disk,
    domain,
    element,
    nic,
    pci,
    unmark,
)

AUGMENT = [sys.executable, "-c", "from augmenter.cli.app import main; main()"]
JSON_KEYS = {"file", "code", "severity", "message", "line", "column", "device", "hint"}
TEXT_LINE = re.compile(r"^(?P<file>.+?)(?::(?P<line>\d+)(?::(?P<col>\d+))?)?: "
                       r"(?P<severity>error|warning): (?P<message>.+)$")

CLEAN = unmark(domain("q35", disk("vda", "virtio") + nic(MAC1, "virtio")))[0]
# Line 13: an error (pc's PIIX3 function); line 19: a warning (function 1 with no function 0).
BAD = unmark(domain("pc", (
    nic(MAC1, "e1000", pci(0, 1, 0, mark=False))
    + nic(MAC2, "e1000", pci(0, 5, 1, mark=False))
)))[0]
# Only a warning: a conventional PCI NIC on q35's PCIe root bus (line 13).
WARNING_ONLY = unmark(domain("q35", nic(MAC1, "e1000", pci(0, 0x10, mark=False))))[0]
# Errors of three rules and a pipeline placement error cannot be had at once (placement runs
# only on a definition without rule errors), so this one has only rule errors.
THREE = unmark(domain("pc", (
    controller("ide", 1)  # line 9
    + disk("vda", "virtio") + disk("vda", "virtio")  # line 14: duplicate target
    + element("sound model='ich6'", "sound", pci(0, 1, 3, mark=False))  # line 19
)))[0]
PLACEMENT = unmark(domain("q35", disk("hda", "ide")))[0]  # IDE on q35: a pipeline error


def augment(*args: str, stdin: str | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AUGMENT, "--boards", "embedded", *args], input=stdin,
                          capture_output=True, text=True, cwd=cwd, check=False, timeout=120)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def parsed(stderr: str) -> list[dict[str, str | None]]:
    """Each stderr line as its parts; every line must be a finding."""
    out = []
    for text in stderr.splitlines():
        m = TEXT_LINE.match(text)
        assert m, f"not a FILE:LINE:COL: severity: message line: {text!r}"
        out.append(m.groupdict())
    return out


# ---- text format ----------------------------------------------------------------------------


def test_text_format_is_file_line_column_severity_message(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.xml", BAD)
    done = augment("--check", str(path))
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    source = BAD.split("\n")
    col13 = source[12].index("<address") + 1
    col19 = source[18].index("<address") + 1
    assert lines[0].startswith(f"{path}:13:{col13}: error: interface {MAC1}: "), lines[0]
    assert "built-in" in lines[0] and "(hint: " in lines[0]
    assert lines[1].startswith(f"{path}:19:{col19}: warning: interface {MAC2} "), lines[1]


def test_text_format_names_the_file_as_given(tmp_path: Path) -> None:
    write(tmp_path, "bad.xml", BAD)
    done = augment("--check", "bad.xml", cwd=tmp_path)
    assert [p["file"] for p in parsed(done.stderr)] == ["bad.xml", "bad.xml"]


def test_text_format_of_a_placement_error(tmp_path: Path) -> None:
    path = write(tmp_path, "ide.xml", PLACEMENT)
    done = augment("--check", str(path))
    assert done.returncode == 1
    (finding,) = [p for p in parsed(done.stderr) if p["severity"] == "error"]
    assert finding["file"] == str(path) and finding["line"] == "9"
    assert "IDE" in (finding["message"] or "")


def test_every_problem_is_reported_in_line_order(tmp_path: Path) -> None:
    path = write(tmp_path, "three.xml", THREE)
    done = augment("--check", str(path))
    assert done.returncode == 1
    got = [(int(p["line"] or 0), p["severity"]) for p in parsed(done.stderr)]
    assert got == [(9, "error"), (14, "error"), (19, "error")], done.stderr


def test_stdin_is_labelled(tmp_path: Path) -> None:
    done = augment("--check", "-", stdin=BAD)
    assert done.returncode == 1
    assert {p["file"] for p in parsed(done.stderr)} == {"<stdin>"}


def test_clean_file_prints_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "clean.xml", CLEAN)
    done = augment("--check", str(path))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_check_changes_nothing(tmp_path: Path) -> None:
    clean = write(tmp_path, "clean.xml", CLEAN)
    bad = write(tmp_path, "bad.xml", BAD)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (clean, bad)}
    augment("--check", str(clean), str(bad))
    augment("--check", "--format", "json", "--strict", str(clean), str(bad))
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (clean, bad)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.xml", "clean.xml"]


# ---- JSON format ----------------------------------------------------------------------------


def test_json_shape(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.xml", BAD)
    done = augment("--check", "--format", "json", str(path))
    assert done.returncode == 1
    assert done.stderr == ""
    data = json.loads(done.stdout)
    assert isinstance(data, list) and len(data) == 2
    for item in data:
        assert set(item) == JSON_KEYS
        assert item["file"] == str(path)
        assert item["severity"] in ("error", "warning")
        assert isinstance(item["code"], str) and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*",
                                                              item["code"])
        assert isinstance(item["message"], str) and item["message"]
        assert isinstance(item["line"], int) and isinstance(item["column"], int)
        assert item["hint"] is None or isinstance(item["hint"], str)
    first, second = data
    assert (first["code"], first["severity"], first["line"]) == ("reserved-slot", "error", 13)
    assert first["device"] == f"interface {MAC1}"
    assert (second["code"], second["severity"], second["line"]) == (
        "multifunction-no-function0", "warning", 19)
    assert second["device"] == f"interface {MAC2}"


def test_json_and_text_report_the_same_findings(tmp_path: Path) -> None:
    paths = [str(write(tmp_path, n, t)) for n, t in (("bad.xml", BAD), ("three.xml", THREE),
                                                      ("ide.xml", PLACEMENT))]
    text = augment("--check", *paths)
    data = json.loads(augment("--check", "--format", "json", *paths).stdout)
    as_text = [(p["file"], p["line"], p["col"], p["severity"]) for p in parsed(text.stderr)]
    as_json = [(d["file"], str(d["line"]) if d["line"] else None,
                str(d["column"]) if d["column"] else None, d["severity"]) for d in data]
    assert as_text == as_json
    for p, d in zip(parsed(text.stderr), data, strict=True):
        message = p["message"] or ""
        assert message.startswith(d["message"])
        if d["hint"]:
            assert message.endswith(f"(hint: {d['hint']})")


def test_json_codes_are_the_rule_codes(tmp_path: Path) -> None:
    paths = [str(write(tmp_path, n, t)) for n, t in (("bad.xml", BAD), ("three.xml", THREE),
                                                      ("ide.xml", PLACEMENT),
                                                      ("warn.xml", WARNING_ONLY))]
    data = json.loads(augment("--check", "--format", "json", *paths).stdout)
    codes = [(Path(d["file"]).name, d["code"]) for d in data]
    assert codes == [
        ("bad.xml", "reserved-slot"), ("bad.xml", "multifunction-no-function0"),
        ("three.xml", "controller-not-on-machine"), ("three.xml", "duplicate-target"),
        ("three.xml", "reserved-slot"), ("ide.xml", "placement"),
        ("warn.xml", "no-hotplug"), ("warn.xml", "pci-on-pcie-root")]
    assert {code for _, code in codes} <= codes_in_checks() | {"placement"}


def test_json_for_clean_files_is_an_empty_list(tmp_path: Path) -> None:
    path = write(tmp_path, "clean.xml", CLEAN)
    done = augment("--check", "--format", "json", str(path), str(path))
    assert done.returncode == 0
    assert json.loads(done.stdout) == []
    assert done.stderr == ""


def test_json_with_an_unreadable_file(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.xml", BAD)
    done = augment("--check", "--format", "json", str(tmp_path / "missing.xml"), str(bad))
    assert done.returncode == 2
    data = json.loads(done.stdout)  # still one JSON document on stdout
    assert {d["file"] for d in data} == {str(bad)}
    assert "missing.xml" in done.stderr


def test_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    path = write(tmp_path, "clean.xml", CLEAN)
    done = augment("--check", "--format", "yaml", str(path))
    assert done.returncode == 2 and done.stdout == ""


# ---- exit codes and --strict ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("files", "strict", "status"), [
    (["clean.xml"], False, 0),
    (["clean.xml"], True, 0),
    (["warn.xml"], False, 0),
    (["warn.xml"], True, 1),
    (["bad.xml"], False, 1),
    (["bad.xml"], True, 1),
    (["clean.xml", "warn.xml"], False, 0),
    (["clean.xml", "bad.xml"], False, 1),
    (["ide.xml"], False, 1),
    (["broken.xml"], False, 1),
    (["not-a-domain.xml"], False, 1),
    (["missing.xml"], False, 2),
    (["folder"], False, 2),
    (["missing.xml", "bad.xml"], False, 2),
    (["bad.xml", "missing.xml", "clean.xml"], True, 2),
])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_exit_codes(tmp_path: Path, files: list[str], strict: bool, status: int,
                    fmt: str) -> None:
    write(tmp_path, "clean.xml", CLEAN)
    write(tmp_path, "warn.xml", WARNING_ONLY)
    write(tmp_path, "bad.xml", BAD)
    write(tmp_path, "ide.xml", PLACEMENT)
    write(tmp_path, "broken.xml", "<domain type='kvm'>\n  <devices>\n</domain>\n")
    write(tmp_path, "not-a-domain.xml", "<network><name>default</name></network>\n")
    (tmp_path / "folder").mkdir()
    args = ["--check", "--format", fmt, *(["--strict"] if strict else []), *files]
    done = augment(*args, cwd=tmp_path)
    assert done.returncode == status, done.stderr
    if fmt == "json":
        json.loads(done.stdout)
    else:
        assert done.stdout == ""


def test_warnings_are_printed_without_strict(tmp_path: Path) -> None:
    path = write(tmp_path, "warn.xml", WARNING_ONLY)
    done = augment("--check", str(path))
    assert done.returncode == 0
    found = parsed(done.stderr)
    assert found and {p["severity"] for p in found} == {"warning"}
    assert all(p["line"] == "13" for p in found)


def test_malformed_xml_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.xml", "<domain type='kvm'>\n  <devices>\n</domain>\n")
    done = augment("--check", "--format", "json", str(path))
    assert done.returncode == 1
    (item,) = json.loads(done.stdout)
    assert item["severity"] == "error" and item["line"] == 3
    assert "XML" in item["message"]


def test_unreadable_file_is_named_on_stderr(tmp_path: Path) -> None:
    done = augment("--check", str(tmp_path / "missing.xml"))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"{tmp_path / 'missing.xml'}: error: cannot read")
