"""The generated man page and the pre-commit hook this repository publishes."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from topology_guests import Q35_MIXED
from typer.testing import CliRunner

from augmenter.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
MAN = ROOT / "man" / "augment.1"
HOOKS = ROOT / ".pre-commit-hooks.yaml"


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- man page ------------------------------------------------------------------------------------
def test_man_page_is_current() -> None:
    text = load_script("gen_man").generate()
    assert MAN.exists(), "man/augment.1 missing: run scripts/gen_man.py"
    assert MAN.read_text(encoding="utf-8") == text, (
        "man/augment.1 is stale (the CLI changed): run scripts/gen_man.py")


def test_man_page_lists_every_option() -> None:
    import typer.main

    cmd = typer.main.get_command(app)
    ctx = cmd.make_context("augment", ["x"], resilient_parsing=True)
    page = MAN.read_text(encoding="utf-8")
    for p in cmd.get_params(ctx):
        if getattr(p, "param_type_name", "") == "option" and not getattr(p, "hidden", False):
            for name in p.opts:
                assert name.replace("-", "\\-") in page, name
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXAMPLES", "EXIT STATUS"):
        assert f".SH {section}\n" in page


def test_man_page_renders_without_warnings() -> None:
    groff = shutil.which("groff")
    if groff is None:
        pytest.skip("groff not installed")
    done = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", str(MAN)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr


# -- pre-commit hook -----------------------------------------------------------------------------
def hook_fields() -> dict[str, str]:
    """The one hook's ``key: value`` lines (the file is plain YAML; no YAML library needed)."""
    fields: dict[str, str] = {}
    for line in HOOKS.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^(?:- |  )(\w+): (.*)$", line)
        if m:
            fields[m.group(1)] = m.group(2).strip()
    return fields


def test_hook_definition() -> None:
    fields = hook_fields()
    assert fields["id"] == "augment-check"
    assert fields["entry"] == "augment --check"
    assert fields["language"] == "python"
    pattern = re.compile(fields["files"])
    assert pattern.search("guests/web.xml") and not pattern.search("notes.xml.txt")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert fields["entry"].split()[0] in scripts  # pip installs the entry point for the hook


def test_hook_command_passes_good_and_fails_bad_files(tmp_path: Path) -> None:
    good = tmp_path / "good.xml"
    good.write_text(Q35_MIXED)
    bad = tmp_path / "bad.xml"
    bad.write_text(Q35_MIXED.replace("<target dev='sda' bus='sata'/>",
                                     "<target dev='hda' bus='ide'/>"))
    args = hook_fields()["entry"].split()[1:]
    runner = CliRunner()
    ok = runner.invoke(app, [*args, str(good)])
    assert ok.exit_code == 0, ok.output
    failed = runner.invoke(app, [*args, str(good), str(bad)])
    assert failed.exit_code == 1
    errors = [ln for ln in failed.output.splitlines() if ": error: " in ln]
    assert errors and all("bad.xml:" in ln for ln in errors)
