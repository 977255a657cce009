#!/usr/bin/env bash
# The one test command of the project: installs what it needs, then lints, type-checks, checks
# the layering and tests.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

section() { printf '\n==== %s (t=%ss) ====\n' "$*" "$SECONDS"; }

# ---- system packages -----------------------------------------------------------------------
# libvirt0 ships /usr/share/libvirt/schemas/domain.rng (used by the tests).
# swtpm + swtpm-tools: libvirt refuses to define a guest with an emulated TPM without them.
# libvirt-dev + pkg-config: pip builds libvirt-python (the README's hook recipe) against them.
APT_PACKAGES=(libvirt0 libxml2-utils qemu-system-x86 qemu-utils libvirt-daemon-driver-qemu
              libvirt-daemon libvirt-clients graphviz qemu-system-arm qemu-system-ppc
              qemu-system-misc swtpm swtpm-tools libvirt-dev pkg-config git ovmf)
              # qemu-system-misc: riscv64, s390x; ovmf: UEFI firmware (the I/O-window test)
# python3 -m venv needs ensurepip; Debian's python3 has it only with python3-venv.
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    APT_PACKAGES+=(python3-venv)
fi

section "system packages"
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "all installed: ${APT_PACKAGES[*]}"
elif [ "$(id -u)" -eq 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}"
else
    echo "WARNING: not root, cannot install: ${missing[*]}" >&2
    echo "WARNING: tests that need them will be skipped (or fail when CI is set)" >&2
fi

# ---- Python environment --------------------------------------------------------------------
section "python venv"
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys' >/dev/null 2>&1; then
    rm -rf .venv
    python3 -m venv .venv
    echo "created .venv ($(.venv/bin/python --version))"
else
    echo "reusing .venv ($(.venv/bin/python --version))"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
# The install is editable, so only a change to pyproject.toml needs a new pip run.
stamp=.venv/.augmenter-test-install
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
        && [ -x .venv/bin/ruff ] && [ -x .venv/bin/mypy ] && [ -x .venv/bin/pytest ] \
        && [ -x .venv/bin/lint-imports ]; then
    echo "package and test tools up to date (pyproject.toml unchanged)"
else
    .venv/bin/python -m pip install -q -e '.[test]'
    echo "$want" > "$stamp"
    echo "installed -e '.[test]'"
fi

# ---- checks (all run; the exit code is non-zero if any failed) ----------------------------
failed=()

section "ruff check augmenter tests"
.venv/bin/ruff check augmenter tests || failed+=(ruff)

section "mypy augmenter"
.venv/bin/mypy augmenter || failed+=(mypy)

section "lint-imports (the layers of docs/architecture.md)"
.venv/bin/lint-imports --no-cache || failed+=(lint-imports)

section "pytest -q $*"
rc=0
.venv/bin/pytest -q "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
    echo "WARNING: pytest collected no tests" >&2
elif [ "$rc" -ne 0 ]; then
    failed+=(pytest)
fi

if [ ${#failed[@]} -gt 0 ]; then
    section "FAILED: ${failed[*]}"
    exit 1
fi
section "all checks passed"
