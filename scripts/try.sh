#!/usr/bin/env bash
# First run: install augmenter into .venv and augment an example domain (no QEMU needed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/augment examples/q35-desktop.xml
