"""`augment --check` says what `virsh define` will say: proved over seeded mutations (issue 15).

2,800 seeded mutations of valid guests (``tests/mutations.py``) go through libvirt 9.0 and through
``augmenter.check()``; augment must err exactly when libvirt refuses, and warn exactly when
libvirt accepts but drops something the user wrote (``tests/differential.py``).

* libvirt's verdicts come from ``tests/data/mutation_verdicts.json`` (keyed by a hash of the XML
  and libvirt's version), so the comparison does not wait on libvirtd; a sample of them (every
  one with ``AUGMENTER_SLOW=1``) is asked of the live libvirtd on each run, so the cache cannot
  rot. Under ``CI`` the live check must run.
* The agreement rate may not fall below ``THRESHOLD``, today's figure; the lead raises it as
  rules land.
* Today's disagreements are listed in ``tests/data/mutation_disagreements.txt``. A disagreement
  not listed fails the test (a rule broke something, or a new mutation found a gap); a listed
  one that now agrees fails it too until its line is removed (like a strict xfail).

``AUGMENTER_REGEN=1 pytest tests/test_check_differential.py`` asks libvirtd about every
mutation that has no cached verdict, and rewrites the cache and the list of disagreements;
review the diff. ``python bench/mutations.py`` prints the figures and both messages of each
class of disagreement.
"""

from __future__ import annotations

import datetime
import os

import pytest
from differential import (
    DISAGREEMENTS,
    Outcome,
    compare,
    define_all,
    key,
    live_sample,
    read_listed,
    stale,
    table,
    tallies,
    write_listed,
)
from libvirt_env import libvirt_or_skip, missing
from mutation_oracle import (
    CLEAN,
    KEPT,
    LIBVIRT_VERSION,
    LibvirtVerdict,
    augment_verdict,
    daemon_version,
    load_cache,
    save_cache,
)
from mutations import COUNT, KINDS, Mutation, base_guests, mutations

import augmenter
from augmenter.pipeline import Options

# Today's agreement (1,134 of 2,450 on the day the test was written; 1,411 with the names
# rule; 1,564 with the parse-time rules of checks/values.py; 1,912 of 2,800 with 350 wrong
# values drawn from their table; 2,592 of 2,800 with the define-time rules of checks/cpu.py,
# platform, unique, models, disks, controllers and capabilities; 2,641 with the <address>
# fields and the controller index in the parse-time table; 2,706 with the address kinds
# each device takes and the addresses libvirt writes over; 2,761 with the parts a device
# must have, the virtio-serial ports of every device and libvirt's USB master rule; 2,773 with
# the options libvirt drops and the PCI controller model; 2,782 with a channel's target type,
# a controller's one <target>, and the disk names whose index wraps; 2,787 with a mediated
# device's address, a memory device's size and a virtio-scsi iothread's address); it may only
# go up.
THRESHOLD = 0.995
LIVE_SAMPLE = 150
REGEN = os.environ.get("AUGMENTER_REGEN", "") == "1"
SLOW = os.environ.get("AUGMENTER_SLOW", "") == "1"


@pytest.fixture(scope="module")
def items() -> list[Mutation]:
    return mutations(COUNT)


def controls() -> list[Mutation]:
    """The unmutated base guests, as mutations of their own kind."""
    return [Mutation(-1 - n, "control", "none", b.label, "unmutated", b.xml)
            for n, b in enumerate(base_guests())]


@pytest.fixture(scope="module")
def verdicts(items: list[Mutation]) -> dict[str, LibvirtVerdict]:
    """libvirt's verdicts from the cache; with AUGMENTER_REGEN=1 the missing ones are asked
    of libvirtd and the cache is rewritten (pruned to today's mutations)."""
    cache = load_cache()
    everything = [*items, *controls()]
    absent = [m for m in everything if key(m) not in cache]
    if REGEN:
        if absent:
            libvirt_or_skip()
            cache.update(define_all(absent))
        wanted = {key(m) for m in everything}
        cache = {k: v for k, v in cache.items() if k in wanted}
        save_cache(cache)
    elif absent:
        pytest.fail(f"{len(absent)} mutations have no cached libvirt verdict (the generator, "
                    "an example or a base guest changed?): run AUGMENTER_REGEN=1 pytest "
                    f"{__file__} with libvirtd, and review the diff", pytrace=False)
    return cache


@pytest.fixture(scope="module")
def outcomes(items: list[Mutation], verdicts: dict[str, LibvirtVerdict]) -> list[Outcome]:
    out = compare(items, verdicts)
    if REGEN:
        write_listed(out)
    return out


@pytest.mark.slow  # the 2,800 mutations: 8 s of the fast tier
def test_the_set_is_large_enough_and_covers_every_kind(items: list[Mutation]) -> None:
    assert len(items) >= 2000
    assert len({m.id for m in items}) == len(items), "two mutations are the same guest"
    assert {m.kind for m in items} == set(KINDS)


def test_every_base_guest_is_kept_whole_by_libvirt_and_passes_check(
        verdicts: dict[str, LibvirtVerdict]) -> None:
    """The controls: what the mutations start from is valid, and libvirt writes back every
    element and attribute of it (so a loss found in a mutation is the mutation's doing)."""
    bad = []
    for m in controls():
        lv, ours = verdicts[key(m)], augment_verdict(m.xml)
        if lv.outcome != KEPT or ours.outcome != CLEAN:
            bad.append(f"{m.base}: libvirt {lv.outcome} {lv.message} {lv.dropped}; "
                       f"augment {ours.outcome} {ours.first}")
    assert not bad, "\n".join(bad)


@pytest.mark.slow  # the 2,800 mutations: 8 s of the fast tier
def test_agreement_with_libvirt_does_not_fall(outcomes: list[Outcome]) -> None:
    figures = tallies(outcomes)
    rate = figures["all"].rate
    print("\n" + "\n".join(table(figures)))
    assert rate >= THRESHOLD, (f"agreement {rate:.1%} is below {THRESHOLD:.1%}:\n"
                               + "\n".join(table(figures)))


@pytest.mark.slow  # the 2,800 mutations: 8 s of the fast tier
def test_disagreements_are_the_listed_ones(outcomes: list[Outcome]) -> None:
    """New disagreements fail; fixed ones must leave the list (strict-xfail-like)."""
    listed = read_listed()
    now = {o.mutation.id: o for o in outcomes if not o.agrees}
    new = [o for ident, o in now.items() if ident not in listed]
    fixed = [line for ident, line in listed.items() if ident not in now]
    changed = [o for ident, o in now.items()
               if ident in listed and listed[ident].split()[1] != o.klass]
    problems = []
    if new:
        problems.append(f"{len(new)} new disagreements (augment no longer says what libvirt "
                        "says):\n" + "\n".join(o.explain() for o in new[:40]))
    if changed:
        problems.append(f"{len(changed)} listed disagreements changed class:\n"
                        + "\n".join(o.explain() for o in changed[:40]))
    if fixed:
        problems.append(f"{len(fixed)} listed disagreements now agree: remove their lines from "
                        f"{DISAGREEMENTS.name} (or AUGMENTER_REGEN=1):\n" + "\n".join(fixed[:40]))
    assert not problems, "\n\n".join(problems)


def _sample_seed() -> int:
    """The live sample changes every day, so that over time it covers the whole cache."""
    return datetime.date.today().toordinal()


@pytest.mark.slow  # the 2,800 mutations: 8 s of the fast tier
def test_cached_verdicts_are_what_libvirtd_says_now(items: list[Mutation],
                                                    verdicts: dict[str, LibvirtVerdict]) -> None:
    """A sample of the cache (all of it with AUGMENTER_SLOW=1) defined in libvirtd again."""
    libvirt_or_skip()
    version = daemon_version()
    if version != LIBVIRT_VERSION:
        missing(f"libvirtd runs libvirt {version}; the cached verdicts are {LIBVIRT_VERSION}'s")
    seed = _sample_seed()
    sample = [*items, *controls()] if SLOW else live_sample(items, LIVE_SAMPLE, seed)
    live = define_all(sample)
    differ = stale(verdicts, live, sample)
    assert not differ, (f"{len(differ)} of {len(sample)} cached verdicts (sample seed {seed}) "
                        "are not what libvirtd says now; AUGMENTER_REGEN=1 after removing them "
                        "from the cache refreshes them:\n" + "\n".join(differ[:20]))


# ---- crashes the mutations found --------------------------------------------------------------

HUGE = """<domain type='qemu'>
  <name>huge</name>
  <memory unit='MiB'>256</memory>
  <os><type arch='x86_64' machine='{machine}'>hvm</type></os>
  <devices>
    {device}
  </devices>
</domain>
"""


@pytest.mark.parametrize("machine, device, words", [
    ("pc", "<controller type='pci' index='4294967296' model='pci-bridge'/>",
     "Invalid value for attribute 'index' in element 'controller': '4294967296'. Expected "
     "integer value"),
    ("q35", "<controller type='pci' index='99999' model='pcie-root-port'/>",
     "PCI controller index 99999 too high, maximum is 255"),
    ("q35", "<disk type='file' device='disk'><source file='/var/lib/libvirt/images/a.img'/>"
            "<target dev='sda' bus='sata'/>"
            "<address type='drive' controller='4294967296' bus='0' target='0' unit='0'/></disk>",
     "Invalid value for attribute 'controller' in element 'address': '4294967296'. Expected "
     "non-negative integer value"),
    ("pc", "<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/>"
           "<address bus='0' target='0' unit='0'/></source>"
           "<address type='drive' controller='99999999' bus='0' target='0' unit='0'/></hostdev>",
     "would need 100000000 scsi controllers"),
])
def test_a_huge_controller_index_is_an_error_not_a_build(machine: str, device: str,
                                                         words: str) -> None:
    """A controller index of 2**32 made placement build that many buses (the process was
    killed for memory); now it is refused at its line."""
    findings = augmenter.check(HUGE.format(machine=machine, device=device),
                               Options(boards="embedded"))
    errors = [f for f in findings if f.severity == "error"]
    assert errors and words in errors[0].message, findings
    assert errors[0].line == 6
