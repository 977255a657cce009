"""Shared pytest fixtures."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
from lxml import etree

if TYPE_CHECKING:
    from augmenter.cli.verify import Virsh

DOMAIN_RNG = Path("/usr/share/libvirt/schemas/domain.rng")


def _missing(what: str) -> NoReturn:
    """Skip the test, or fail it under CI (where everything must be installed)."""
    if os.environ.get("CI"):
        pytest.fail(f"{what}; CI must install it (scripts/test.sh does)", pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="session")
def domain_rng() -> etree.RelaxNG:
    """libvirt's domain schema; it includes its sibling .rng files, so load it by path."""
    if not DOMAIN_RNG.is_file():
        _missing("libvirt's domain.rng not installed (Debian package libvirt0)")
    return etree.RelaxNG(file=str(DOMAIN_RNG))


@pytest.fixture
def require_tool() -> Callable[[str], str]:
    """`require_tool("xmllint")` returns the tool's path, or skips (fails under CI) without it."""

    def require(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            _missing(f"{name} not found on PATH")
        return path

    return require


@pytest.fixture(scope="module")
def virsh() -> Iterator[Virsh]:
    """The local libvirtd (skipped without it, failed under CI); the module's domains are
    undefined after it."""
    from libvirt_env import libvirt_or_skip, remove_leftovers

    handle = libvirt_or_skip()
    yield handle
    remove_leftovers(handle)
