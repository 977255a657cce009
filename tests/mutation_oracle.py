"""The two sides of the differential test: libvirt's verdict on a guest, and augment's.

libvirt's side: the guest is defined in the shared libvirtd (``qemu:///system``) under a name of
its own, dumped back with ``dumpxml --inactive`` and undefined, in one ``virsh`` process (three
commands separated by ``;``: about 35 ms). The verdict is ``refused`` (with libvirt's message),
``dropped`` (accepted, but an element or attribute the user wrote is not in libvirt's output) or
``kept``. Verdicts are cached in ``tests/data/mutation_verdicts.json`` under a hash of the XML and
libvirt's version, so that the test does not hang on libvirtd's timing; it still asks libvirtd
about a sample on every run, so the cache cannot rot.

What counts as dropped: the input and the output are each read as a multiset of *paths*, one per
element (``domain/devices/disk/target``), one per attribute (``.../target@dev``) and one per
element with text (``domain/vcpu#text``), with ``<controller>`` and ``<address>`` told apart by
their ``type``. A path written more often than libvirt writes it back was dropped. Values are
not compared (libvirt rewrites them: units to KiB, machine aliases to versions, hex spellings),
nor order (libvirt sorts devices). Paths libvirt would leave out as a mere rewrite would go in
:data:`NORMAL_DROPS`, each with its reason; there are none.

augment's side: ``augmenter.check()`` in process with the shipped board table. It errs, warns
(any warning but the advisory ones in :data:`ADVISORY_WARNINGS`, which are about guests libvirt
accepts and keeps), or says nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from lxml import etree

from augmenter.checks.findings import Finding
from augmenter.pipeline import Options, check

URI = "qemu:///system"
LIBVIRT_VERSION = "9.0.0"  # the version the cache answers for; the live check asks the daemon
CACHE = Path(__file__).resolve().parent / "data" / "mutation_verdicts.json"
NAME_PREFIX = "augmenter-mutations"
DEFINE_TIMEOUT = 60.0

REFUSED, DROPPED, KEPT = "refused", "dropped", "kept"
ERROR, WARNING, CLEAN = "error", "warning", "clean"
# libvirt's verdict -> the answer augment must give for the two to agree
AGREES = {REFUSED: ERROR, DROPPED: WARNING, KEPT: CLEAN}

# Paths (without the [type] tags) that libvirt 9.0 leaves out of its output although nothing the
# user meant is lost: a rewrite, not a drop. Each entry says which rewrite. None is needed today:
# libvirt writes back every element, attribute and text of all 239 base guests (the controls of
# test_check_differential), and of every accepted mutation each lost path was checked to be the
# mutation's doing (a misspelt name, an address the device cannot have, a second copy of an
# element libvirt reads once, a vcpupin beyond the vCPUs, ...). Values are not compared, so
# libvirt's rewrites of values (units to KiB, 'q35' to 'pc-q35-7.2', hex spellings) need none.
NORMAL_DROPS: dict[str, str] = {}

# Warnings about a guest libvirt accepts as written and keeps whole: advice on placement or on
# what QEMU will do at start, not a setting lost on define. Every other warning counts as
# "augment says libvirt drops something". A new advisory warning code belongs here.
ADVISORY_WARNINGS = frozenset({
    "drive-out-of-range",  # QEMU refuses the unit at start; libvirt defines it
    "duplicate-controller-index",  # as a warning: ICH9 USB companions share an index
    "missing-controller",
    "multifunction-no-function0",
    "multifunction-off",
    "no-hotplug",
    "pci-on-pcie-root",
    "pcie-on-pci",
    "pcie-root",
    "pcie-to-pci-bridge",
    "unlisted-value",  # a value the schema does not list: libvirt refuses most (that is an
    # error of the parse-time rules, which hides this warning) and reads the rest its own way
    # (autoport='On' as 'yes'); it is the name, not the value, that libvirt drops
})


# ---- libvirt's verdict ------------------------------------------------------------------------


@dataclass(frozen=True)
class LibvirtVerdict:
    """What libvirtd did with one guest: refused it (``message``) or accepted it, and then which
    paths of the input its output lacks (``lost``, before :data:`NORMAL_DROPS` is applied)."""

    accepted: bool
    message: str = ""
    lost: tuple[str, ...] = ()

    @property
    def dropped(self) -> tuple[str, ...]:
        return tuple(p for p in self.lost if _normal_key(p) not in NORMAL_DROPS)

    @property
    def outcome(self) -> str:
        if not self.accepted:
            return REFUSED
        return DROPPED if self.dropped else KEPT

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["lost"] = list(self.lost)
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> LibvirtVerdict:
        lost = data.get("lost", [])
        assert isinstance(lost, list)
        return cls(bool(data["accepted"]), str(data.get("message", "")),
                   tuple(str(p) for p in lost))


def _normal_key(path: str) -> str:
    return re.sub(r"\[[^]]*\]", "", path)


def cache_key(xml: str, version: str = LIBVIRT_VERSION) -> str:
    """The cache's key for a guest: a hash of libvirt's version and the exact text."""
    return hashlib.sha256(f"libvirt {version}\n{xml}".encode()).hexdigest()[:20]


def _step(el: etree._Element) -> str:
    tag = etree.QName(el).localname if el.tag.startswith("{") else str(el.tag)
    if el.tag.startswith("{"):
        tag = f"{{{etree.QName(el).namespace}}}{tag}"
    if tag in ("controller", "address") and el.get("type") is not None:
        return f"{tag}[{el.get('type')}]"
    return tag


def paths(root: etree._Element) -> Counter[str]:
    """Every element and attribute of a document as a path from the root, counted."""
    out: Counter[str] = Counter()

    def walk(el: etree._Element, prefix: str) -> None:
        here = f"{prefix}/{_step(el)}" if prefix else _step(el)
        out[here] += 1
        for name in el.attrib:
            out[f"{here}@{name}"] += 1
        if el.text and el.text.strip():
            out[f"{here}#text"] += 1
        for child in el:
            if isinstance(child.tag, str):
                walk(child, here)

    walk(root, "")
    return out


def lost_paths(written: etree._Element, dumped: etree._Element) -> tuple[str, ...]:
    """Paths the input has more often than libvirt's output: what libvirt dropped."""
    before, after = paths(written), paths(dumped)
    return tuple(sorted(p for p, n in before.items() if n > after.get(p, 0)))


def _libvirt_message(stderr: str, name: str) -> str:
    """libvirt's own words from virsh's stderr, without virsh's framing or our domain's name."""
    lines = [line.removeprefix("error: ").strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line and not line.startswith(
        ("Failed to define domain from", "failed to get domain"))]
    return " ".join(lines).replace(name, "{name}")


def rename(xml: str, name: str) -> bytes:
    """The guest as libvirtd gets it: its ``<name>`` replaced."""
    root = etree.fromstring(xml.encode("utf-8"))
    name_el = root.find("name")
    assert name_el is not None, "the mutations keep <name>"
    name_el.text = name
    return etree.tostring(root, encoding="utf-8", xml_declaration=False)


# virsh's words when the daemon, not the definition, is the problem
_NOT_A_VERDICT = re.compile(r"failed to connect to the hypervisor|Failed to connect socket|"
                            r"End of file while reading data|Cannot recv data|"
                            r"Connection reset by peer|operation timed out", re.IGNORECASE)


def define_verdict(xml: str, name: str, workdir: Path) -> LibvirtVerdict:
    """Define ``xml`` in libvirtd as ``name``, dump it, undefine it; what libvirt said."""
    data = rename(xml, name)
    path = workdir / f"{name}.xml"
    path.write_bytes(data)
    script = f"define {path}; dumpxml --inactive {name}; undefine --nvram {name}"
    try:
        done = subprocess.run(["virsh", "-q", "-c", URI, script], capture_output=True,
                              text=True, timeout=DEFINE_TIMEOUT, check=False)
    finally:
        path.unlink(missing_ok=True)
    if "<domain" not in done.stdout:
        message = _libvirt_message(done.stderr, name)
        if not message or _NOT_A_VERDICT.search(message):
            # the daemon, not the guest: never cache this as libvirt's answer
            raise RuntimeError(f"virsh define {name}: {done.stderr.strip()!r}")
        return LibvirtVerdict(False, message)
    dumped = etree.fromstring(done.stdout.encode("utf-8"))
    written = etree.fromstring(data)
    return LibvirtVerdict(True, "", lost_paths(written, dumped))


def daemon_version() -> str:
    """The version of libvirt the daemon runs (``virsh version``'s API line)."""
    done = subprocess.run(["virsh", "-c", URI, "version"], capture_output=True, text=True,
                          timeout=DEFINE_TIMEOUT, check=False)
    m = re.search(r"Using API: \S+ ([0-9.]+)", done.stdout)
    if m is None:
        raise RuntimeError(f"virsh version: {done.stderr.strip() or done.stdout.strip()}")
    return m.group(1)


def run_prefix() -> str:
    return f"{NAME_PREFIX}-t{os.getpid()}-"


def remove_leftovers() -> None:
    """Undefine every domain this process defined and did not undefine (a virsh killed midway)."""
    done = subprocess.run(["virsh", "-q", "-c", URI, "list", "--all", "--name"],
                          capture_output=True, text=True, timeout=DEFINE_TIMEOUT, check=False)
    for name in done.stdout.split():
        if name.startswith(run_prefix()):
            subprocess.run(["virsh", "-q", "-c", URI, "undefine", "--nvram", name],
                           capture_output=True, timeout=DEFINE_TIMEOUT, check=False)


# ---- the cache --------------------------------------------------------------------------------


def load_cache(path: Path = CACHE) -> dict[str, LibvirtVerdict]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {key: LibvirtVerdict.from_json(value) for key, value in data["verdicts"].items()}


def save_cache(verdicts: dict[str, LibvirtVerdict], path: Path = CACHE) -> None:
    """Write the cache, sorted, one verdict a line (reviewable diffs), atomically."""
    lines = [f"  {json.dumps(k)}: {json.dumps(v.to_json(), ensure_ascii=False)}"
             for k, v in sorted(verdicts.items())]
    text = ('{\n "libvirt": ' + json.dumps(LIBVIRT_VERSION) + ',\n "verdicts": {\n'
            + ",\n".join(lines) + "\n }\n}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


# ---- augment's verdict ------------------------------------------------------------------------

OPTIONS = Options(boards="embedded")


@dataclass(frozen=True)
class AugmentVerdict:
    outcome: str  # ERROR | WARNING | CLEAN
    first: str  # the first error's (else the first counted warning's) message, or ""
    codes: tuple[str, ...]


def augment_verdict(xml: str) -> AugmentVerdict:
    findings = check(xml, OPTIONS)
    return verdict_of(findings)


def verdict_of(findings: Iterable[Finding]) -> AugmentVerdict:
    errors = [f for f in findings if f.severity == "error"]
    warnings = [f for f in findings if f.severity == "warning"
                and f.code not in ADVISORY_WARNINGS]
    codes = tuple(f.code for f in [*errors, *warnings])
    if errors:
        return AugmentVerdict(ERROR, errors[0].message, codes)
    if warnings:
        return AugmentVerdict(WARNING, warnings[0].message, codes)
    return AugmentVerdict(CLEAN, "", codes)


# libvirt's error classes (virErrorMsg) put before the message; augment leaves them out
_LIBVIRT_PREFIXES = re.compile(
    r"^(XML error|unsupported configuration|internal error|invalid argument|"
    r"operation failed|Requested operation is not valid|"
    r"XML document failed to validate against schema|"
    r"configuration unsupported|this function is not supported by the connection driver)"
    r": ", re.IGNORECASE)


def _words(text: str) -> str:
    return " ".join(text.replace('"', "'").split()).casefold()


def same_words(libvirt_message: str, augment_message: str) -> bool:
    """Whether augment's message contains libvirt's (its class prefix aside)."""
    core = _LIBVIRT_PREFIXES.sub("", libvirt_message.strip())
    return bool(core) and _words(core) in _words(augment_message)
