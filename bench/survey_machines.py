"""The machine-type survey of issue 16: every machine type of every installed QEMU.

    .venv/bin/python bench/survey_machines.py                  # everything: ~576 types
    .venv/bin/python bench/survey_machines.py --no-boot        # steps 1-3 only
    .venv/bin/python bench/survey_machines.py -b qemu-system-arm -m 'vexpress*'

For every ``/usr/bin/qemu-system-*`` and every machine type it lists, the raw guest (a virtio
disk and a virtio NIC) is defined in libvirtd, augmented by the ``augment`` command, augment's
output defined again, and the guest started paused under QEMU to compare ``info qtree`` with
the XML (see ``tests/machine_survey.py``, which the test ``tests/test_machine_survey.py``
shares). Writes ``bench/survey.md`` (summary, a table per binary and per machine type, the
misses grouped by reason) and ``bench/survey.json`` (every outcome, with the XML of both
placements) unless ``--out`` says elsewhere. Needs root for ``qemu:///system``.
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import machine_survey as survey  # noqa: E402
from libvirt_env import URI, start_daemons  # noqa: E402

from augmenter.cli.verify import Virsh  # noqa: E402


def _version(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "?"
    return (done.stdout.strip().splitlines() or ["?"])[0]


def _commit() -> str:
    try:
        done = subprocess.run(["git", "-C", str(HERE), "describe", "--always", "--dirty"],
                              capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "?"
    return done.stdout.strip() or "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-b", "--binary", action="append", default=[],
                        help="only binaries whose name matches (glob; repeatable)")
    parser.add_argument("-m", "--machine", action="append", default=[],
                        help="only machine types that match (glob; repeatable)")
    parser.add_argument("--no-boot", action="store_true", help="skip step 4 (QEMU)")
    parser.add_argument("--jobs", type=int, default=survey.DEFINE_JOBS,
                        help="define round trips at a time")
    parser.add_argument("--boot-jobs", type=int, default=survey.BOOT_JOBS,
                        help="paused starts at a time")
    parser.add_argument("--out", type=Path, default=HERE / "survey",
                        help="write OUT.md and OUT.json (default bench/survey)")
    parser.add_argument("--with-xml", action="store_true",
                        help="keep both placements' whole XML in the JSON (~2 MB)")
    parser.add_argument("--render", action="store_true",
                        help="only write OUT.md again from OUT.json (no libvirt, no QEMU)")
    args = parser.parse_args()
    if args.render:
        return render_again(args.out)

    why = start_daemons()
    if why is not None:
        print(f"survey_machines: {why}", file=sys.stderr)
        return 2
    binaries = [b for b in survey.installed_binaries()
                if not args.binary or any(fnmatch.fnmatch(Path(b).name, g)
                                          or fnmatch.fnmatch(Path(b).name, f"qemu-system-{g}")
                                          for g in args.binary)]
    machines = [mt for mt in survey.all_machine_types(binaries)
                if not args.machine or any(fnmatch.fnmatch(mt.machine, g)
                                           for g in args.machine)]
    if not machines:
        print("survey_machines: no machine type selected", file=sys.stderr)
        return 2
    print(f"{len(machines)} machine types of {len(binaries)} binaries", file=sys.stderr)
    virsh = Virsh(URI)
    done = {"define": 0, "boot": 0}

    def progress(step: str, outcome: survey.Outcome) -> None:
        done[step] += 1
        if done[step] % 25 == 0:
            print(f"  {step}: {done[step]} ({outcome.key})", file=sys.stderr)

    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="survey-cache-") as cache:
        augment = survey.default_augment(cache)
        outcomes = survey.run_survey(
            virsh, augment, machines,
            boot=(lambda o: False) if args.no_boot else (lambda o: True),
            define_jobs=args.jobs, boot_jobs=args.boot_jobs, progress=progress)
    elapsed = time.monotonic() - start
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    meta: dict[str, object] = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "seconds": round(elapsed, 1),
        "define_jobs": args.jobs, "boot_jobs": args.boot_jobs, "boot": not args.no_boot,
        "cpus": os.cpu_count(), "load_average": load,
        "python": platform.python_version(),
        "libvirt": _version(["virsh", "--version"]),
        "qemu": _version(["/usr/bin/qemu-system-x86_64", "--version"]),
        "augmenter": _commit(),
        "augment_options": " ".join(augment.extra),
        "selection": {"binary": args.binary, "machine": args.machine},
    }
    args.out.with_suffix(".md").write_text(
        survey.render_markdown(outcomes, header_lines(meta, elapsed, args.jobs, args.boot_jobs)))
    survey.write_json(outcomes, args.out.with_suffix(".json"), meta, args.with_xml)
    print(survey.summary_line(outcomes))
    print(f"took {elapsed:.0f} s; wrote {args.out.with_suffix('.md')} and "
          f"{args.out.with_suffix('.json')}")
    return 0


def render_again(out: Path) -> int:
    """OUT.md from OUT.json: the same table, after a change to how it is written."""
    doc = json.loads(out.with_suffix(".json").read_text())
    outcomes = [survey.Outcome.from_json(o) for o in doc["outcomes"]]
    meta = doc["meta"]
    out.with_suffix(".md").write_text(survey.render_markdown(
        outcomes, header_lines(meta, float(meta["seconds"]), int(meta["define_jobs"]),
                               int(meta["boot_jobs"]))))
    print(survey.summary_line(outcomes))
    return 0


def header_lines(meta: dict[str, object], elapsed: float, jobs: int, boot_jobs: int
                 ) -> list[str]:
    return [
        f"Generated by `bench/survey_machines.py` on {meta['date']} (augmenter {meta['augmenter']}"
        f", libvirt {meta['libvirt']}, {meta['qemu']}). The whole survey took "
        f"{elapsed / 60:.1f} min on {meta['cpus']} CPUs ({jobs} define round trips and "
        f"{boot_jobs} paused starts at a time; load average at the end "
        f"{meta['load_average']}).",
        "",
        "Each machine type gets the raw guest of issue 16: a virtio disk and a virtio NIC "
        "(`<interface type='user'>`), domain type `qemu`, the binary as `<emulator>` and its "
        "libvirt arch. *libvirt defines*: `virsh define` takes it. *augment places*: "
        f"`{' '.join(['augment', str(meta.get('augment_options', ''))]).strip()} FILE` "
        "writes an output (with a private board cache: cache, QEMU, shipped table). *equal to "
        "libvirt*: augment's devices, models, controllers and addresses are libvirt's own. "
        "*defined unchanged*: `virsh define` of augment's output changes none of them. "
        "*booted*: `virsh start --paused` of augment's output (a board that names its RAM "
        "size is started again with it). *qtree agrees*: every device with a PCI, CCW or "
        "virtio-mmio address sits there in `info qtree` (`-`: no such device). *libvirt's "
        "boots*: where augment refuses the guest (or libvirt refuses augment's output), "
        "libvirt's own placement is started instead.",
    ]


if __name__ == "__main__":
    sys.exit(main())
