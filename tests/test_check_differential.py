"""`augment --check` says what `virsh define` will say: proved over seeded mutations (issue 15).

Crashes the seeded mutations found, kept as regressions.
"""

from __future__ import annotations

import pytest

import augmenter
from augmenter.pipeline import Options

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
     "PCI controller index 4294967296 too high, maximum is 255"),
    ("q35", "<controller type='pci' index='99999' model='pcie-root-port'/>",
     "PCI controller index 99999 too high, maximum is 255"),
    ("q35", "<disk type='file' device='disk'><target dev='sda' bus='sata'/>"
            "<address type='drive' controller='4294967296' bus='0' target='0' unit='0'/></disk>",
     "would need 4294967297 sata controllers"),
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
