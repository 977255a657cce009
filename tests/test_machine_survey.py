"""The machine-type survey of issue 16 as tests: every machine type of every installed QEMU.

For each machine type that ``-machine help`` lists, the raw guest (a virtio disk and a virtio
NIC, see ``tests/machine_survey.py``) goes through libvirtd and through the ``augment`` command
(a private board cache: QEMU is introspected as a user's first run would). The rule:

* ``test_augment_agrees_with_libvirt``: where libvirt defines the guest, augment places it,
  exactly as libvirt does, and libvirt defines augment's output unchanged; where libvirt
  refuses it, augment refuses it too.
* ``test_qemu_sees_the_xml``: on a fixed sample of boards, augment's output starts paused under
  QEMU and ``info qtree`` shows every device with a PCI, CCW or virtio-mmio address where the
  XML says. Every machine type is booted by ``bench/survey_machines.py``; a paused start and
  libvirt's stop take ~3 s, so the test boots a sample (``BOOT_SAMPLE``) to stay within CI's
  budget.

Known mismatches go in ``KNOWN`` (binary and machine globs, with the reason; none today): strict
xfails, so that each fix turns its cases into regression guards (remove the entry then).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from libvirt_env import libvirt_or_skip, missing
from machine_survey import (
    MachineType,
    Outcome,
    all_machine_types,
    default_augment,
    installed_binaries,
    run_survey,
)

pytestmark = pytest.mark.slow  # real QEMU or libvirt, processes or hypothesis: not fast

MACHINES = all_machine_types()
BY_KEY = {mt.key: mt for mt in MACHINES}

# The binaries scripts/test.sh installs (qemu-system-x86, -arm, -ppc, -misc): CI has them all.
REQUIRED = ("qemu-system-x86_64", "qemu-system-aarch64", "qemu-system-arm", "qemu-system-ppc64",
            "qemu-system-riscv64", "qemu-system-s390x", "qemu-system-avr")

# Known mismatches, the first rule that names a machine type decides: (binaries, machine globs,
# why augment differs from libvirt, or None where they agree). A rule must match some installed
# machine type (test_every_known_rule_is_used). Empty: augment agrees with libvirt on every
# machine type of every installed QEMU (issue 16; the last entries, classes 5 and 6 and the
# KVM-only microvm build, went with libvirt's per-arch rules in augmenter/policy/machines.py).
KNOWN: list[tuple[tuple[str, ...], tuple[str, ...], str | None]] = []

# Booted by the test (all of them by bench/survey_machines.py): a board of every family augment
# places, newest and oldest versions, and the arch aliases; and boards beyond those families
# (a pci-root on PowerMac and sh4, virtio-mmio on vexpress).
BOOT_SAMPLE = (
    "qemu-system-x86_64:pc", "qemu-system-x86_64:q35", "qemu-system-x86_64:pc-i440fx-1.4",
    "qemu-system-x86_64:pc-q35-2.4", "qemu-system-i386:pc", "qemu-system-i386:q35",
    "qemu-system-aarch64:virt", "qemu-system-aarch64:virt-2.6", "qemu-system-arm:virt",
    "qemu-system-ppc64:pseries", "qemu-system-ppc64:pseries-2.1", "qemu-system-ppc64le:pseries",
    "qemu-system-riscv64:virt", "qemu-system-s390x:s390-ccw-virtio",
    "qemu-system-s390x:s390-ccw-virtio-2.4",
    "qemu-system-ppc:mac99", "qemu-system-sh4:r2d", "qemu-system-arm:vexpress-a9",
)
KNOWN_BOOT: list[tuple[tuple[str, ...], tuple[str, ...], str | None]] = []


Rules = list[tuple[tuple[str, ...], tuple[str, ...], str | None]]


def rule_for(key: str, rules: Rules) -> int | None:
    """The index of the first rule that names ``key`` (``binary:machine``), or None."""
    binary, _, machine = key.partition(":")
    return next((n for n, (binaries, machines, _) in enumerate(rules) if binary in binaries
                 and any(fnmatch.fnmatchcase(machine, m) for m in machines)), None)


def known(key: str, rules: Rules) -> str | None:
    n = rule_for(key, rules)
    return None if n is None else rules[n][2]


def params(keys: list[str], rules: Rules) -> Iterator[object]:
    for key in keys:
        why = known(key, rules)
        # only the assertion may fail: a libvirtd or QEMU that breaks is an error, not xfail
        marks = [pytest.mark.xfail(reason=why, strict=True, raises=AssertionError)] if why \
            else []
        yield pytest.param(key, id=key, marks=marks)


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """The survey of every machine type a selected test names: defined 4 at a time, the
    selected boot sample started 3 at a time."""
    mine = [item for item in request.session.items if item.module is request.module
            and hasattr(item, "callspec") and "key" in item.callspec.params]
    keys = [item.callspec.params["key"] for item in mine]
    boot = {item.callspec.params["key"] for item in mine
            if item.originalname == "test_qemu_sees_the_xml"}
    virsh = libvirt_or_skip()
    machines: list[MachineType] = [BY_KEY[k] for k in dict.fromkeys(keys)]
    cache = tmp_path_factory.mktemp("survey-cache")
    done = run_survey(virsh, default_augment(str(cache)), machines,
                      boot=lambda o: o.key in boot)
    return {o.key: o for o in done}


def test_the_qemu_binaries_are_installed() -> None:
    names = {Path(b).name for b in installed_binaries()}
    lacking = [b for b in REQUIRED if b not in names]
    if lacking:
        missing(f"{', '.join(lacking)} not in /usr/bin (Debian packages qemu-system-x86, "
                "qemu-system-arm, qemu-system-ppc, qemu-system-misc)")
    assert len(MACHINES) > 100


@pytest.mark.parametrize("key", list(params(list(BY_KEY), KNOWN)))
def test_augment_agrees_with_libvirt(key: str, outcomes: dict[str, Outcome]) -> None:
    o = outcomes[key]
    if not o.libvirt_defines:
        assert not o.augment_places, f"libvirt refuses it ({o.libvirt_error}); augment places it"
        return
    assert o.augment_places, f"libvirt places it; augment refuses it: {o.augment_error}"
    assert o.equal_to_libvirt, "augment places it otherwise than libvirt:\n  " + \
        "\n  ".join(o.equal_diff)
    assert o.defined_unchanged, "libvirt changes augment's output:\n  " + \
        "\n  ".join(o.unchanged_diff)


@pytest.mark.parametrize("key", list(params([k for k in BOOT_SAMPLE if k in BY_KEY],
                                            KNOWN_BOOT)))
def test_qemu_sees_the_xml(key: str, outcomes: dict[str, Outcome]) -> None:
    o = outcomes[key]
    assert o.boot_of == "augment", f"augment's output was not defined: {'; '.join(o.misses())}"
    assert o.booted, f"QEMU does not start it: {o.boot_error}"
    assert o.qtree_checked, "no device with an address to check"
    assert o.qtree_agrees, "\n".join(o.qtree_problems)


@pytest.mark.parametrize("rules", [KNOWN, KNOWN_BOOT], ids=["KNOWN", "KNOWN_BOOT"])
def test_every_known_rule_is_used(rules: Rules) -> None:
    """A rule no installed machine type reaches is stale (or misspelt): it must go."""
    keys = list(BY_KEY) if rules is KNOWN else [k for k in BOOT_SAMPLE if k in BY_KEY]
    used = {rule_for(k, rules) for k in keys}
    assert used >= set(range(len(rules))), [rules[n] for n in range(len(rules))
                                            if n not in used]


def test_the_boot_sample_is_installed() -> None:
    lacking = [k for k in BOOT_SAMPLE if k not in BY_KEY]
    if lacking and os.environ.get("CI"):
        pytest.fail(f"machine types of the boot sample that no installed QEMU has: {lacking}")
    assert len(BOOT_SAMPLE) - len(lacking) >= 10
