"""Which QEMU binaries augmenter may run on behalf of a domain file (issue 18, Build 4).

A domain file is not trusted (augmenter runs as a hook in front of the hypervisor, often as
root), yet its ``<emulator>`` names a program, and learning a board means running it. So the
program a domain names is run only when it is a known QEMU:

* an absolute path, in one of the system's binary folders (:data:`SYSTEM_FOLDERS`, after
  ``..`` is resolved), whose file name is a QEMU's (``qemu-system-*``, ``qemu-kvm``, ``kvm``);
* or a path the user allowed: ``--allow-emulator PATH`` or the ``AUGMENTER_EMULATORS``
  environment variable (paths separated by ``:``), compared by their real paths.

Never a relative path or a bare name. Anything else is not run: its board comes from the
cache (if an allowed run put it there) or from the shipped table, with a warning; with
``--boards qemu`` it is an error. ``qemu-system-ARCH`` found on ``PATH`` (no ``<emulator>``) is
the user's own choice, run when ``PATH`` gives an absolute path to it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

ALLOW_ENV = "AUGMENTER_EMULATORS"
SYSTEM_FOLDERS = ("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin",
                  "/usr/local/sbin", "/usr/libexec", "/usr/local/libexec")
# qemu-system-ARCH, and a build variant of it (Debian's KVM-only qemu-system-x86_64-microvm)
QEMU_NAME = re.compile(r"(?:qemu-system-[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)?|qemu-kvm|kvm)")
HOW_TO_ALLOW = f"allow it with --allow-emulator PATH or {ALLOW_ENV}"


def allowed(extra: Iterable[str] = ()) -> frozenset[str]:
    """The real paths of the emulators the user allowed (option and environment)."""
    paths = [*extra, *os.environ.get(ALLOW_ENV, "").split(os.pathsep)]
    return frozenset(os.path.realpath(p) for p in paths if p and os.path.isabs(p))


def refusal(emulator: str, extra: Iterable[str] = ()) -> str | None:
    """Why the ``<emulator>`` of a domain must not be run, or None when it may be."""
    if not os.path.isabs(emulator):
        return "not an absolute path"
    if os.path.realpath(emulator) in allowed(extra):
        return None
    folder, name = os.path.split(os.path.normpath(emulator))
    if folder not in SYSTEM_FOLDERS:
        return "not in a system binary folder"
    if QEMU_NAME.fullmatch(name) is None:
        return "not a QEMU binary"
    return None
