"""The define-time rules (issue 15, steps 3 and 4): what ``virsh define`` refuses, said first.

Each :class:`Rule` is one small guest with one problem libvirt 9.0 refuses when it defines a
QEMU domain (or, for a warning, accepts but drops), and the words libvirt says about it. Its XML
marks the line the finding must point at with a trailing ``<<<``. For every case:

* ``augment --check`` reports the rule's code at that line, with libvirt's words and a hint;
* the same guest without its problem (``fixed``, where a case gives one) passes clean;
* libvirtd on ``qemu:///system`` refuses the guest with the same words (for a warning: accepts
  it and drops something of it). These are slow tests; without libvirtd they skip, and under
  ``CI`` they fail.

``test_every_define_time_rule_has_a_case`` reads the rule modules and fails when a code there
has no case here.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from libvirt_env import libvirt_or_skip
from mutation_oracle import define_verdict

import augmenter
from augmenter.checks import (
    capabilities,
    controllers,
    cpu,
    disks,
    models,
    platform,
    unique,
)
from augmenter.checks.findings import Finding
from augmenter.pipeline import Options

EMBEDDED = Options(boards="embedded")
MARK = "<<<"
RULE_MODULES = (cpu, platform, unique, models, capabilities, disks, controllers)

MACHINES: dict[str, tuple[str, str]] = {
    "pc": ("x86_64", "pc"),
    "q35": ("x86_64", "q35"),
    "pseries": ("ppc64", "pseries"),
    "s390": ("s390x", "s390-ccw-virtio"),
    "virt": ("aarch64", "virt"),
    "riscv": ("riscv64", "virt"),
}


@dataclass(frozen=True)
class Rule:
    """One bad guest: where its parts go, and what both sides must say about it."""

    code: str
    words: str  # libvirt's message, or a part of it with no value in it
    machine: str = "q35"
    top: str = ""  # after <memory>: <vcpu>, <iothreads>, <cputune>, <maxMemory>...
    os: str = ""  # inside <os>, after <type>
    os_attrs: str = ""  # attributes of <os>: " firmware='efi'"
    os_type: str = "hvm"
    rest: str = ""  # after <os>: <features>, <cpu>, <clock>, <on_*>...
    devices: str = ""
    memory: str = "<memory unit='MiB'>512</memory>"
    severity: str = "error"
    fixed: tuple[str, str] | None = None  # (old, new): the same guest without the problem
    id: str = ""

    def xml(self, name: str = "rule") -> tuple[str, int | None]:
        arch, machine = MACHINES[self.machine]
        text = "\n".join(line for line in (
            "<domain type='qemu'>",
            f"  <name>{name}</name>",
            f"  {self.memory}" if self.memory else "",
            self.top,
            f"  <os{self.os_attrs}>",
            f"    <type arch='{arch}' machine='{machine}'>{self.os_type}</type>",
            self.os,
            "  </os>",
            self.rest,
            "  <devices>",
            f"    <emulator>/usr/bin/qemu-system-{arch}</emulator>",
            self.devices,
            "  </devices>",
            "</domain>",
        ) if line)
        return unmark(text)

    def fixed_xml(self) -> str:
        assert self.fixed is not None
        old, new = self.fixed
        text, _ = self.xml()
        assert old in text, f"{self.id}: {old!r} is not in the guest"
        return text.replace(old, new, 1)


def unmark(text: str) -> tuple[str, int | None]:
    """The document without its ``<<<`` marker, and the marked line."""
    lines = text.split("\n")
    marked = [n for n, line in enumerate(lines, 1) if line.rstrip().endswith(MARK)]
    assert len(marked) <= 1, marked
    clean = "\n".join(line.rstrip().removesuffix(MARK).rstrip() for line in lines)
    return clean, (marked[0] if marked else None)


def _ided(rules: list[Rule]) -> list[Rule]:
    out, seen = [], set()
    for rule in rules:
        n, ident = 1, rule.id or rule.code
        while ident in seen:
            n += 1
            ident = f"{rule.code}-{n}"
        seen.add(ident)
        out.append(Rule(**{**rule.__dict__, "id": ident}))
    return out


VCPU4 = "  <vcpu>4</vcpu>"

CPU_RULES = [
    Rule("vcpu-current", "maximum vCPU count must not be less than current vCPU count",
         top="  <vcpu current='6'>4</vcpu> <<<",
         fixed=("current='6'", "current='2'")),
    Rule("vcpu-count", "vcpu 0 can't be offline",
         top="  <vcpu current='0'>2</vcpu> <<<", fixed=("current='0'", "current='1'")),
    Rule("vcpu-count", "CPU IDs in <numa> exceed the <vcpu> count",
         top="  <vcpu>0</vcpu> <<<", fixed=("<vcpu>0", "<vcpu>1")),
    Rule("vcpu-machine-limit", "Maximum CPUs greater than specified machine type limit 288",
         top="  <vcpu>300</vcpu> <<<", fixed=("300", "8")),
    Rule("vcpu-machine-limit", "Maximum CPUs greater than specified machine type limit 248",
         machine="s390", top="  <vcpu>250</vcpu> <<<", fixed=("250", "8")),
    Rule("vcpu-machine-limit", "more than 255 vCPUs require extended interrupt mode enabled "
         "on the iommu device", top="  <vcpu>256</vcpu> <<<", fixed=("256", "255")),
    Rule("cpu-topology", "CPU topology doesn't match maximum vcpu count", top=VCPU4,
         rest="  <cpu><topology sockets='1' dies='1' cores='2' threads='1'/></cpu> <<<",
         fixed=("cores='2'", "cores='4'")),
    Rule("cpu-topology", "vCPUs count must be a multiple of the vCPU hotplug granularity (2)",
         machine="pseries", top="  <vcpu current='3'>4</vcpu> <<<",
         rest="  <cpu><topology sockets='1' dies='1' cores='2' threads='2'/></cpu>",
         fixed=("current='3'", "current='2'")),
    Rule("numa-cell", "NUMA topology defined without NUMA cells", top=VCPU4,
         rest="  <cpu>\n    <numa/> <<<\n  </cpu>"),
    Rule("numa-cell", "Exactly one 'cell' element per guest NUMA cell allowed", top=VCPU4,
         rest="  <cpu><numa>\n    <cell id='1' cpus='0-3' memory='512' unit='MiB'/> <<<\n"
              "  </numa></cpu>", fixed=("id='1'", "id='0'")),
    Rule("numa-cell-id", "Duplicate NUMA cell info for cell id '0'", top=VCPU4,
         rest="  <cpu><numa>\n    <cell id='0' cpus='0-1' memory='256' unit='MiB'/>\n"
              "    <cell id='0' cpus='2-3' memory='256' unit='MiB'/> <<<\n  </numa></cpu>",
         fixed=("id='0' cpus='2-3'", "id='1' cpus='2-3'")),
    Rule("numa-cell", "NUMA cells 1 and 0 have overlapping vCPU ids", top=VCPU4,
         rest="  <cpu><numa>\n    <cell id='0' cpus='0-2' memory='256' unit='MiB'/>\n"
              "    <cell id='1' cpus='2-3' memory='256' unit='MiB'/> <<<\n  </numa></cpu>",
         fixed=("cpus='0-2'", "cpus='0-1'")),
    Rule("numa-cell", "Number of CPUs in <numa> exceeds the <vcpu> count", top=VCPU4,
         rest="  <cpu>\n    <numa> <<<\n      <cell id='0' cpus='0-5' memory='512' "
              "unit='MiB'/>\n    </numa>\n  </cpu>", fixed=("0-5", "0-3")),
    Rule("numa-cell", "CPU IDs in <numa> exceed the <vcpu> count", top=VCPU4,
         rest="  <cpu>\n    <numa> <<<\n      <cell id='0' cpus='0-1,6' memory='512' "
              "unit='MiB'/>\n    </numa>\n  </cpu>", fixed=("0-1,6", "0-1,3")),
    Rule("bitmap", "Failed to parse bitmap '1-'", top=VCPU4,
         rest="  <cpu><numa>\n    <cell id='0' cpus='1-' memory='512' unit='MiB'/> <<<\n"
              "  </numa></cpu>", fixed=("'1-'", "'1-2'")),
    Rule("numatune", "Element 'memnode' is invalid without any guest NUMA cells",
         top="  <numatune>\n    <memnode cellid='0' mode='strict' nodeset='0'/> <<<\n"
             "  </numatune>"),
    Rule("numatune", "Argument 'cellid' in memnode element must correspond to existing "
         "guest's NUMA cell", top="  <vcpu>2</vcpu>\n  <numatune>\n"
         "    <memnode cellid='1' mode='strict' nodeset='0'/> <<<\n  </numatune>",
         rest="  <cpu><numa><cell id='0' cpus='0-1' memory='512' unit='MiB'/></numa></cpu>",
         fixed=("cellid='1'", "cellid='0'")),
    Rule("numatune", "Multiple memnode elements with cellid 0",
         top="  <vcpu>2</vcpu>\n  <numatune>\n    <memnode cellid='0' nodeset='0'/>\n"
             "    <memnode cellid='0' nodeset='0'/> <<<\n  </numatune>",
         rest="  <cpu><numa><cell id='0' cpus='0-1' memory='512' unit='MiB'/></numa></cpu>"),
    Rule("numatune", "nodeset for NUMA memory tuning must be set if 'placement' is 'static'",
         top="  <vcpu placement='auto'>2</vcpu>\n  <numatune>\n"
             "    <memory mode='interleave' placement='static'/> <<<\n  </numatune>",
         fixed=("placement='static'", "nodeset='0'")),
    Rule("numatune", "Per-node binding is not compatible with automatic NUMA placement.",
         top="  <vcpu placement='auto'>2</vcpu>\n  <numatune>\n"
             "    <memnode cellid='0' nodeset='0'/> <<<\n  </numatune>",
         rest="  <cpu><numa><cell id='0' cpus='0-1' memory='512' unit='MiB'/></numa></cpu>"),
    Rule("bitmap", "Failed to parse bitmap 'zz'",
         top="  <numatune>\n    <memory mode='strict' nodeset='zz'/> <<<\n  </numatune>",
         fixed=("'zz'", "'0'")),
    Rule("numatune-dropped", "", severity="warning",
         top="  <numatune>\n    <memory mode='strict' placement='auto' nodeset='0'/> <<<\n"
             "  </numatune>", fixed=(" nodeset='0'", "")),
    Rule("iothread", "duplicate iothread id '2' found",
         top="  <iothreadids>\n    <iothread id='2'/>\n    <iothread id='2'/> <<<\n"
             "  </iothreadids>"),
    Rule("iothread", "Cannot find 'iothread' : 3",
         top="  <iothreads>2</iothreads>\n  <cputune>\n"
             "    <iothreadpin iothread='3' cpuset='0'/> <<<\n  </cputune>",
         fixed=("iothread='3'", "iothread='2'")),
    Rule("cputune", "duplicate vcpupin for vcpu '0'",
         top="  <vcpu>2</vcpu>\n  <cputune>\n    <vcpupin vcpu='0' cpuset='0'/>\n"
             "    <vcpupin vcpu='0' cpuset='1'/> <<<\n  </cputune>",
         fixed=("vcpu='0' cpuset='1'", "vcpu='1' cpuset='1'")),
    Rule("cputune-dropped", "", severity="warning",
         top="  <vcpu>2</vcpu>\n  <cputune>\n    <vcpupin vcpu='5' cpuset='0'/> <<<\n"
             "  </cputune>", fixed=("vcpu='5'", "vcpu='1'")),
    Rule("cputune", "Value of cputune 'period' must be in range [1000, 1000000]",
         top="  <cputune>\n    <period>10</period> <<<\n  </cputune>",
         fixed=("<period>10", "<period>1000")),
    Rule("cputune", "'vcpusched' attributes 'vcpus' must not overlap",
         top="  <vcpu>4</vcpu>\n  <cputune>\n"
             "    <vcpusched vcpus='0-1' scheduler='fifo' priority='1'/>\n"
             "    <vcpusched vcpus='1-2' scheduler='fifo' priority='1'/> <<<\n  </cputune>",
         fixed=("vcpus='1-2'", "vcpus='2-3'")),
    Rule("bitmap", "Failed to parse bitmap 'x-y'",
         top="  <vcpu>2</vcpu>\n  <cputune>\n    <vcpupin vcpu='0' cpuset='x-y'/> <<<\n"
             "  </cputune>", fixed=("x-y", "0-1")),
    Rule("iothread", "IOThreads not available for bus sata target sda",
         top="  <iothreads>1</iothreads>",
         devices="    <disk type='file' device='disk'>\n"
                 "      <driver name='qemu' type='raw' iothread='1'/> <<<\n"
                 "      <source file='/var/lib/libvirt/images/a.img'/>\n"
                 "      <target dev='sda' bus='sata'/>\n    </disk>",
         fixed=("<target dev='sda' bus='sata'/>", "<target dev='vda' bus='virtio'/>")),
    Rule("iothread", "Disk iothread '2' not defined in iothreadid",
         top="  <iothreads>1</iothreads>",
         devices="    <disk type='file' device='disk'>\n"
                 "      <driver name='qemu' type='raw' iothread='2'/> <<<\n"
                 "      <source file='/var/lib/libvirt/images/a.img'/>\n"
                 "      <target dev='vda' bus='virtio'/>\n    </disk>",
         fixed=("iothread='2'", "iothread='1'")),
    Rule("iothread", "'iothread' attribute only supported for virtio scsi controllers",
         top="  <iothreads>1</iothreads>",
         devices="    <controller type='scsi' index='0' model='lsilogic'>\n"
                 "      <driver iothread='1'/> <<<\n    </controller>",
         machine="pc", fixed=("model='lsilogic'", "model='virtio-scsi'")),
    Rule("iothread", "controller iothread '2' not defined in iothreadid",
         top="  <iothreads>1</iothreads>",
         devices="    <controller type='scsi' index='0' model='virtio-scsi'>\n"
                 "      <driver iothread='2'/> <<<\n    </controller>",
         fixed=("iothread='2'", "iothread='1'")),
    Rule("memory", "Memory size must be specified via <memory> or in the <numa> configuration",
         memory="", top="  <vcpu>1</vcpu>", fixed=("<vcpu>1</vcpu>", "<vcpu>1</vcpu><memory>"
                                                    "524288</memory>"),
         id="memory-missing"),
    Rule("memory", "both maximum memory size and memory slot count must be specified",
         top="  <maxMemory unit='GiB'>4</maxMemory> <<<"),
    Rule("memory", "maximum memory size must be equal or greater than the actual memory size",
         top="  <maxMemory slots='2' unit='MiB'>256</maxMemory> <<<"),
    Rule("memory-hotplug", "At least one numa node has to be configured when enabling memory "
         "hotplug", top="  <maxMemory slots='2' unit='GiB'>4</maxMemory> <<<"),
    Rule("memory-hotplug", "cannot use/hotplug a memory device when domain 'maxMemory' is not "
         "defined", top="  <vcpu>2</vcpu>",
         rest="  <cpu><numa><cell id='0' cpus='0-1' memory='512' unit='MiB'/></numa></cpu>",
         devices="    <memory model='dimm'> <<<\n      <target><size unit='MiB'>128</size>"
                 "<node>0</node></target>\n    </memory>"),
    Rule("dimm-slot", "memory device slot '0' is already being used by another memory device",
         top="  <maxMemory slots='4' unit='GiB'>4</maxMemory>\n  <vcpu>2</vcpu>",
         rest="  <cpu><numa><cell id='0' cpus='0-1' memory='512' unit='MiB'/></numa></cpu>",
         devices="    <memory model='dimm'>\n      <target><size unit='MiB'>128</size>"
                 "<node>0</node></target>\n      <address type='dimm' slot='0'/> <<<\n"
                 "    </memory>\n    <memory model='dimm'>\n      <target><size unit='MiB'>"
                 "128</size><node>0</node></target>\n      <address type='dimm' slot='0'/>"
                 "\n    </memory>",
         fixed=("slot='0'/>\n    </memory>\n  </devices>",
                "slot='1'/>\n    </memory>\n  </devices>")),
    Rule("memory-hotplug", "target NUMA node needs to be specified for memory device",
         top="  <maxMemory slots='4' unit='GiB'>4</maxMemory>\n  <vcpu>2</vcpu>",
         rest="  <cpu><numa><cell id='0' cpus='0-1' memory='512' unit='MiB'/></numa></cpu>",
         devices="    <memory model='dimm'> <<<\n      <target><size unit='MiB'>128</size>"
                 "</target>\n    </memory>",
         fixed=("</size></target>", "</size><node>0</node></target>")),
]

OVMF = "/usr/share/OVMF/OVMF_CODE.fd"
EFI, BIOS = " firmware='efi'", " firmware='bios'"
DISK = ("    <disk type='file' device='disk'>\n"
        "      <source file='/var/lib/libvirt/images/a.qcow2'/>\n"
        "      <target dev='vda' bus='virtio'/>\n{extra}    </disk>")

PLATFORM_RULES = [
    Rule("firmware", "firmware feature 'enrolled-keys' cannot be enabled when firmware feature "
         "'secure-boot' is disabled",
         os="    <firmware> <<<\n      <feature enabled='yes' name='enrolled-keys'/>\n"
            "      <feature enabled='no' name='secure-boot'/>\n    </firmware>",
         rest="  <features><acpi/></features>"),
    Rule("firmware", "loader attribute 'secure' cannot be specified when firmware "
         "autoselection is enabled", os="    <loader secure='no'/> <<<", os_attrs=EFI,
         rest="  <features><acpi/></features>"),
    Rule("firmware", "loader attribute 'type' cannot be specified when firmware autoselection "
         "is enabled", os=f"    <loader>{OVMF}</loader> <<<", os_attrs=EFI,
         rest="  <features><acpi/></features>"),
    Rule("firmware", "firmware type 'bios' does not support nvram", os_attrs=BIOS,
         os="    <nvram>/var/lib/libvirt/qemu/nvram/x_VARS.fd</nvram> <<<"),
    Rule("firmware", "Only EFI firmware permits NVRAM", os="    <loader stateless='no'/> <<<",
         os_attrs=BIOS),
    Rule("firmware", "no loader path specified and firmware auto selection disabled",
         os="    <nvram>/var/lib/libvirt/qemu/nvram/x_VARS.fd</nvram> <<<"),
    Rule("firmware", "NVRAM is not permitted when loader is stateless",
         os=f"    <loader readonly='yes' type='pflash' stateless='yes'>{OVMF}</loader>\n"
            "    <nvram>/var/lib/libvirt/qemu/nvram/x_VARS.fd</nvram> <<<",
         rest="  <features><acpi/></features>"),
    Rule("secure-boot", "Secure boot is supported with q35 machine types only", machine="pc",
         os=f"    <loader readonly='yes' secure='yes' type='pflash'>{OVMF}</loader> <<<",
         rest="  <features><acpi/><smm state='on'/></features>",
         fixed=(" secure='yes'", "")),
    Rule("secure-boot", "Secure boot requires SMM feature enabled",
         os=f"    <loader readonly='yes' secure='yes' type='pflash'>{OVMF}</loader> <<<",
         rest="  <features><acpi/></features>",
         fixed=("<acpi/>", "<acpi/><smm state='on'/>")),
    Rule("uefi-acpi", "UEFI requires ACPI on this architecture",
         os=f"    <loader readonly='yes' type='pflash'>{OVMF}</loader> <<<",
         rest="  <features><pae/></features>", fixed=("<pae/>", "<acpi/>")),
    Rule("uefi-acpi", "ACPI requires UEFI on this architecture", machine="virt",
         rest="  <features>\n    <acpi/> <<<\n  </features>", fixed=("<acpi/>", "")),
    Rule("boot-order", "boot order '1' used for more than one device",
         devices=DISK.format(extra="      <boot order='1'/>\n") + "\n"
                 "    <interface type='user'>\n      <model type='virtio'/>\n"
                 "      <boot order='1'/> <<<\n    </interface>",
         fixed=("<boot order='1'/>\n    </interface>", "<boot order='2'/>\n    </interface>")),
    Rule("boot-order", "per-device boot elements cannot be used together with os/boot elements",
         os="    <boot dev='hd'/> <<<", devices=DISK.format(extra="      <boot order='1'/>\n"),
         fixed=("    <boot dev='hd'/>\n", "")),
    Rule("boot-order", "invalid loadparm value 'SYS1?', expecting chars in set of [a-zA-Z0-9.] "
         "and blank spaces", machine="s390",
         devices=DISK.format(extra="      <boot order='1' loadparm='sys1?'/> <<<\n"),
         fixed=("sys1?", "sys1")),
    Rule("boot-order", "boot order is only supported for virtiofs",
         devices="    <filesystem type='mount' accessmode='mapped'>\n"
                 "      <source dir='/srv/share'/>\n      <target dir='share'/>\n"
                 "      <boot order='1'/> <<<\n    </filesystem>",
         fixed=("      <boot order='1'/>\n", "")),
    Rule("boot-menu", "invalid value for boot menu timeout, must be in range [0,65535]",
         os="    <bootmenu enable='yes' timeout='65536'/> <<<",
         fixed=("65536", "65535")),
    Rule("lifecycle", "qemu driver doesn't support the 'rename-restart' action for "
         "'on_reboot'/'on_poweroff'/'on_crash'",
         rest="  <on_crash>rename-restart</on_crash> <<<",
         fixed=("rename-restart", "restart")),
    Rule("lifecycle", "qemu driver doesn't support the 'preserve' action for "
         "'on_reboot'/'on_poweroff'", rest="  <on_poweroff>preserve</on_poweroff> <<<",
         fixed=("preserve", "destroy")),
    Rule("lifecycle", "qemu driver doesn't support 'onReboot' set to 'destroy and 'onPoweroff' "
         "set to 'reboot'", rest="  <on_poweroff>restart</on_poweroff>\n"
         "  <on_reboot>destroy</on_reboot> <<<", fixed=("destroy", "restart")),
    Rule("lifecycle", "Lifecycle event 'poweroff' doesn't support 'coredump-destroy' action",
         rest="  <on_poweroff>coredump-destroy</on_poweroff> <<<",
         fixed=("coredump-destroy", "destroy")),
    Rule("feature-arch", "The 'gic' feature is not supported for architecture 'x86_64' or "
         "machine type 'pc-q35-7.2'", rest="  <features>\n    <gic version='3'/> <<<\n"
         "  </features>", fixed=("<gic version='3'/>", "<acpi/>")),
    Rule("feature-arch", "The 'htm' feature is not supported for architecture 'aarch64' or "
         "machine type 'virt-7.2'", machine="virt",
         rest="  <features>\n    <htm state='on'/> <<<\n  </features>",
         fixed=("<htm state='on'/>", "")),
    Rule("feature-arch", "The 'ioapic' feature is not supported for architecture 'ppc64'",
         machine="pseries", rest="  <features>\n    <ioapic driver='qemu'/> <<<\n"
         "  </features>", fixed=("  <features>\n    <ioapic driver='qemu'/>\n  </features>\n",
                                "")),
    Rule("feature-arch", "vmport is not available with this QEMU binary", machine="virt",
         rest="  <features>\n    <vmport state='off'/> <<<\n  </features>",
         fixed=("<vmport state='off'/>", "")),
    Rule("feature-arch", "SMM TSEG is only supported with q35 machine type", machine="pc",
         rest="  <features>\n    <smm state='on'>\n      <tseg unit='MiB'>48</tseg> <<<\n"
              "    </smm>\n  </features>", fixed=("<tseg unit='MiB'>48</tseg>", "")),
    Rule("feature-arch", "SMM TSEG size must be divisible by 1 MiB",
         rest="  <features>\n    <smm state='on'>\n      <tseg unit='KiB'>1000</tseg> <<<\n"
              "    </smm>\n  </features>", fixed=("'KiB'>1000", "'KiB'>1024")),
    Rule("timer", "Configuring the 'tsc' timer is not supported for virtType=qemu arch=s390x "
         "machine=s390-ccw-virtio-7.2 guests", machine="s390",
         rest="  <clock offset='utc'>\n    <timer name='tsc' present='yes'/> <<<\n"
              "  </clock>", fixed=("present='yes'", "present='no'")),
    Rule("timer", "unsupported rtc timer tickpolicy 'merge'",
         rest="  <clock offset='utc'>\n    <timer name='rtc' tickpolicy='merge'/> <<<\n"
              "  </clock>", fixed=("merge", "catchup")),
    Rule("guest-cpu", "CPU cache mode 'emulate' can only be used with level='3'",
         rest="  <cpu>\n    <cache level='2' mode='emulate'/> <<<\n  </cpu>",
         fixed=("level='2'", "level='3'")),
    Rule("guest-cpu", "CPU maximum physical address bits number specification cannot be used "
         "with mode='passthrough'", rest="  <cpu mode='host-passthrough'>\n"
         "    <maxphysaddr mode='passthrough' bits='42'/> <<<\n  </cpu>",
         fixed=(" bits='42'", "")),
    Rule("guest-cpu", "SVE disabled, but SVE vector lengths provided", machine="virt",
         rest="  <cpu mode='custom'>\n    <model>max</model>\n"
              "    <feature policy='disable' name='sve'/> <<<\n"
              "    <feature policy='require' name='sve256'/>\n  </cpu>",
         fixed=("policy='disable' name='sve'", "policy='require' name='sve'")),
    Rule("guest-cpu", "CPU feature 'pdpe1gb' specified more than once",
         rest="  <cpu mode='custom'>\n    <model>qemu64</model>\n"
              "    <feature policy='require' name='pdpe1gb'/>\n"
              "    <feature policy='disable' name='pdpe1gb'/> <<<\n  </cpu>"),
    Rule("seclabel", "seclabel for model dac is already provided",
         rest="  <seclabel type='dynamic' model='dac' relabel='yes'/>\n"
              "  <seclabel type='dynamic' model='dac' relabel='yes'/> <<<"),
    Rule("seclabel", "dynamic label type must use resource relabeling",
         rest="  <seclabel type='dynamic' model='dac' relabel='no'/> <<<",
         fixed=("relabel='no'", "relabel='yes'")),
    Rule("sysinfo", "Invalid BIOS 'date' format",
         rest="  <sysinfo type='smbios'>\n    <bios>\n"
              "      <entry name='date'>999/999/123</entry> <<<\n    </bios>\n  </sysinfo>",
         fixed=("999/999/123", "12/31/2023")),
    Rule("os-type", "does not support os type 'xen'", os_type="xen",
         fixed=(">xen<", ">hvm<")),
    Rule("os-bios", "BIOS serial console only supported on x86 architectures", machine="virt",
         os="    <bios useserial='yes'/> <<<", fixed=("    <bios useserial='yes'/>\n", "")),
    Rule("os-bios", "need at least one serial port to use BIOS serial output",
         os="    <bios useserial='yes'/> <<<",
         fixed=("  </devices>", "    <serial type='pty'/>\n  </devices>")),
]

TPM = "    <tpm model='{model}'>\n      <backend type='emulator' version='2.0'/>\n    </tpm>"
PCI_HOSTDEV = ("    <hostdev mode='subsystem' type='pci' managed='yes'>\n      <source>"
               "<address domain='0x0000' bus='0x41' slot='0x00' function='{f}'/></source>\n"
               "    </hostdev>")

UNIQUE_RULES = [
    Rule("duplicate-device", "only a single TPM non-proxy device is supported",
         devices=TPM.format(model="tpm-crb") + "\n" + TPM.format(model="tpm-tis").replace(
             "<tpm model='tpm-tis'>", "<tpm model='tpm-tis'> <<<")),
    Rule("duplicate-device", "only a single TPM Proxy device is supported", machine="pseries",
         devices="    <tpm model='spapr-tpm-proxy'><backend type='passthrough'>"
                 "<device path='/dev/tpmrm0'/></backend></tpm>\n"
                 "    <tpm model='spapr-tpm-proxy'> <<<\n      <backend type='passthrough'>"
                 "<device path='/dev/tpmrm1'/></backend>\n    </tpm>"),
    Rule("duplicate-device", "only a single memory balloon device is supported",
         devices="    <memballoon model='virtio'/>\n    <memballoon model='virtio'/> <<<"),
    Rule("duplicate-device", "only a single watchdog device is supported",
         devices="    <watchdog model='i6300esb'/>\n    <watchdog model='ib700'/> <<<"),
    Rule("duplicate-device", "Multiple panic devices with model 'isa'",
         devices="    <panic model='isa'/>\n    <panic/> <<<"),
    Rule("duplicate-alias", "non unique alias detected: ua-twin",
         devices="    <interface type='user'>\n      <model type='virtio'/>\n"
                 "      <alias name='ua-twin'/>\n    </interface>\n"
                 "    <input type='tablet' bus='usb'>\n      <alias name='ua-twin'/> <<<\n"
                 "    </input>", fixed=("ua-twin'/>\n    </input>", "ua-tablet'/>\n    </input>")),
    Rule("duplicate-hostdev", "Hostdev already exists in the domain configuration",
         devices=PCI_HOSTDEV.format(f="0x0") + "\n" + PCI_HOSTDEV.format(f="0x0").replace(
             "managed='yes'>", "managed='yes'> <<<", 1),
         fixed=("function='0x0'/></source>\n    </hostdev>\n  </devices>",
                "function='0x1'/></source>\n    </hostdev>\n  </devices>")),
    Rule("primary-video", "Only one primary video device is supported",
         devices="    <video><model type='qxl' primary='yes'/></video>\n"
                 "    <video>\n      <model type='virtio' primary='yes'/> <<<\n    </video>",
         fixed=("type='virtio' primary='yes'", "type='virtio'")),
    Rule("primary-video", "a 'none' video type must be the only video device defined for the "
         "domain", devices="    <video><model type='vga'/></video>\n"
                           "    <video>\n      <model type='none'/> <<<\n    </video>"),
    Rule("duplicate-blkio", "duplicate blkio device path '/dev/sda'",
         top="  <blkiotune>\n    <device><path>/dev/sda</path><weight>100</weight></device>\n"
             "    <device><path>/dev/sda</path><weight>200</weight></device> <<<\n"
             "  </blkiotune>", fixed=("<path>/dev/sda</path><weight>200",
                                      "<path>/dev/sdb</path><weight>200")),
    Rule("audio-id", "audio ID 1 is used multiple times",
         devices="    <audio id='1' type='none'/>\n    <audio id='1' type='none'/> <<<",
         fixed=("<audio id='1' type='none'/>\n  </devices>",
                "<audio id='2' type='none'/>\n  </devices>")),
    Rule("audio-id", "no audio device with ID 5",
         devices="    <sound model='ich9'>\n      <audio id='5'/> <<<\n    </sound>\n"
                 "    <audio id='1' type='none'/>", fixed=("id='5'", "id='1'")),
]

# Guests that look like a problem for a rule, and that libvirt defines and keeps whole.
PCI5 = "      <address type='pci' domain='0' bus='0' slot='5' function='0'/>\n"

CLEAN = [
    Rule("", "", id="serial-and-console-share-an-alias",
         devices="    <interface type='user'>\n      <model type='virtio'/>\n"
                 "      <alias name='ua-twin'/>\n    </interface>\n"
                 "    <serial type='pty'><alias name='ua-twin'/></serial>\n"
                 "    <console type='pty'/>"),
    Rule("", "", id="a-proxy-and-a-tpm", machine="pseries",
         devices="    <tpm model='spapr-tpm-proxy'><backend type='passthrough'>"
                 "<device path='/dev/tpmrm0'/></backend></tpm>\n"
                 + TPM.format(model="tpm-spapr")),
    # one USB master is enough, whatever the companions' indexes (virDomainDefParseXML)
    Rule("", "", id="a-master-and-a-companion-elsewhere",
         devices="    <controller type='usb' index='0' model='ich9-ehci1'/>\n"
                 "    <controller type='usb' index='1' model='ich9-uhci1'>\n"
                 "      <master startport='0'/>\n    </controller>"),
    # libvirt treats a PCI address as PCI on any device (qemuDomainCollectPCIAddress)
    Rule("", "", id="a-ps2-keyboard-and-a-tpm-on-pci", machine="pc",
         devices="    <input type='keyboard' bus='ps2'>\n" + PCI5 + "    </input>\n"
                 "    <tpm model='tpm-crb'><backend type='emulator' version='2.0'/>\n"
                 + PCI5.replace("slot='5'", "slot='6'") + "    </tpm>"),
]

EMU_TPM = "    <tpm model='{model}'>{m1}\n      <backend type='emulator'{version}/>{m2}\n    </tpm>"


def emulated_tpm(model: str, version: str, mark: str = "backend") -> str:
    """A TPM with an emulator backend, the line of ``mark`` (tpm or backend) marked."""
    return EMU_TPM.format(model=model, version=version, m1=" <<<" if mark == "tpm" else "",
                          m2=" <<<" if mark == "backend" else "")

USB_AT = "      <address type='usb' bus='0' port='{port}'/> <<<\n"

MODEL_RULES = [
    Rule("address-type", "ib700 model of watchdog does not support configuring the address",
         machine="pc", devices="    <watchdog model='ib700'>\n" + USB_AT.format(port=2)
         + "    </watchdog>", fixed=(USB_AT.format(port=2).replace(" <<<", ""), "")),
    Rule("address-type", "i6300esb model of watchdog can go only on PCI bus",
         devices="    <watchdog model='i6300esb'>\n      <address type='isa' iobase='0x70'/> "
                 "<<<\n    </watchdog>"),
    Rule("address-type", "panic is supported only with ISA address type",
         devices="    <panic model='isa'>\n" + USB_AT.format(port=2) + "    </panic>"),
    Rule("address-type", "Invalid address for a USB device",
         devices="    <input type='tablet' bus='usb'>\n      <address type='drive' "
                 "controller='0' bus='0' target='0' unit='1'/> <<<\n    </input>"),
    Rule("address-type", "address of type 'unassigned' is supported only for hostdevs",
         devices="    <interface type='user'>\n      <model type='virtio'/>\n"
                 "      <address type='unassigned'/> <<<\n    </interface>"),
    Rule("address-replaced", "", severity="warning",
         devices="    <memballoon model='none'>\n" + PCI5.rstrip("\n") + " <<<\n"
                 "    </memballoon>", fixed=(PCI5, "")),
    Rule("address-replaced", "", severity="warning", id="address-replaced-channel",
         devices="    <channel type='pty'>\n      <target type='virtio' name='a.b'/>\n"
                 + PCI5.rstrip("\n") + " <<<\n    </channel>", fixed=(PCI5, "")),
    Rule("address-replaced", "", severity="warning", id="address-replaced-serial-console",
         devices="    <serial type='pty'/>\n    <console type='pty'>\n"
                 "      <address type='virtio-mmio'/> <<<\n    </console>"),
    Rule("missing-element", "interface type='network' requires a 'source' element",
         devices="    <interface type='network'> <<<\n      <model type='virtio'/>\n"
                 "    </interface>"),
    Rule("missing-element", "target type must be specified for channel device",
         devices="    <channel type='pty'/> <<<"),
    Rule("missing-element", "missing target information for device /srv/share",
         devices="    <filesystem type='mount'> <<<\n      <source dir='/srv/share'/>\n"
                 "    </filesystem>"),
    Rule("missing-element", "", severity="warning", id="missing-element-nic-type",
         devices="    <interface> <<<\n      <source network='default'/>\n"
                 "    </interface>"),
    Rule("pci-index", "PCI controller at index 1 (0x01) has bus='0x05', but index must be "
         "larger than bus", machine="pc",
         devices="    <controller type='pci' index='1' model='pci-bridge'>\n"
                 "      <address type='isa' iobase='0x300' irq='5'/> <<<\n    </controller>"),
    Rule("missing-element", "unknown target type '(null)' specified for character device",
         devices="    <channel type='pty'>\n      <target name='a.b'/> <<<\n    </channel>",
         fixed=("<target name", "<target type='virtio' name")),
    Rule("channel-target", "spicevmc device type only supports virtio",
         devices="    <channel type='spicevmc'>\n      <target type='guestfwd' "
                 "address='10.0.2.1' port='4600'/> <<<\n    </channel>"),
    Rule("controller-children", "Multiple <target> elements in controller definition not "
         "allowed", devices="    <controller type='pci' index='1' model='pcie-root-port'>\n"
         "      <target chassis='1' port='0x10'/>\n      <target chassis='2'/> <<<\n"
         "    </controller>"),
    Rule("disk-target", "Unknown disk name 'vdzzzzzzz' and no address specified",
         devices="    <disk type='file' device='disk'>\n"
                 "      <source file='/var/lib/libvirt/images/x.img'/>\n"
                 "      <target dev='vdzzzzzzz' bus='virtio'/> <<<\n    </disk>",
         fixed=("vdzzzzzzz", "vdzzzzzz")),
    Rule("missing-element", "Missing <address> element",
         devices="    <hostdev mode='subsystem' type='mdev' model='vfio-pci'> <<<\n"
                 "      <source/>\n    </hostdev>"),
    Rule("missing-element", "missing element or attribute './size'", top=VCPU4,
         memory="<maxMemory slots='4' unit='MiB'>2048</maxMemory>\n"
                "  <memory unit='MiB'>512</memory>",
         rest="  <cpu><numa><cell id='0' cpus='0-3' memory='512' unit='MiB'/></numa></cpu>",
         devices="    <memory model='dimm'>\n      <target> <<<\n        <node>0</node>\n"
                 "      </target>\n    </memory>"),
    Rule("iothread", "virtio-scsi IOThreads only available for virtio pci and virtio ccw "
         "controllers", top="  <iothreads>1</iothreads>",
         devices="    <controller type='scsi' index='0' model='virtio-scsi'>\n"
                 "      <driver iothread='1'/>\n      <address type='drive' controller='0' "
                 "bus='0' target='0' unit='1'/> <<<\n    </controller>"),
    Rule("option-dropped", "", severity="warning",
         devices="    <interface type='user'>\n      <model type='e1000'/>\n"
                 "      <driver queues='4'/> <<<\n    </interface>",
         fixed=("<model type='e1000'/>", "<model type='virtio'/>")),
    Rule("option-dropped", "", severity="warning", id="option-dropped-balloon-period",
         devices="    <memballoon model='virtio'>\n      <stats period='-5'/> <<<\n"
                 "    </memballoon>", fixed=("'-5'", "'5'")),
    Rule("option-dropped", "", severity="warning", id="option-dropped-queues-0",
         devices="    <controller type='scsi' index='0' model='virtio-scsi'>\n"
                 "      <driver queues='0'/> <<<\n    </controller>",
         fixed=("queues='0'", "queues='2'")),
    Rule("pci-model", "PCI controller model was not set correctly",
         devices="    <controller type='pci' index='1'/> <<<",
         fixed=("index='1'/>", "index='1' model='pcie-root-port'/>")),
    Rule("address-replaced", "", severity="warning", id="address-replaced-hub",
         devices="    <hub type='usb'>\n      <address type='drive' controller='0' bus='0' "
                 "target='0' unit='1'/> <<<\n    </hub>"),
    Rule("address-replaced", "", severity="warning", id="address-replaced-piix3-usb",
         machine="pc", devices="    <controller type='usb' index='0' model='piix3-uhci'>\n"
         + USB_AT.format(port=1) + "    </controller>",
         fixed=(USB_AT.format(port=1).replace(" <<<", ""), "")),
    Rule("tpm", "Unsupported interface 'tpm-crb' for TPM 1.2",
         devices=emulated_tpm("tpm-crb", " version='1.2'"),
         fixed=("version='1.2'", "version='2.0'")),
    Rule("tpm", "TPM 1.2 is not supported with the SPAPR device model", machine="pseries",
         devices=emulated_tpm("tpm-spapr", " version='1.2'"),
         fixed=("version='1.2'", "version='2.0'")),
    Rule("qemu-capability", "The QEMU executable /usr/bin/qemu-system-x86_64 does not support "
         "TPM model spapr-tpm-proxy",
         devices=emulated_tpm("spapr-tpm-proxy", " version='2.0'", mark="tpm"),
         fixed=("spapr-tpm-proxy", "tpm-crb")),
    Rule("qemu-capability", "The QEMU executable /usr/bin/qemu-system-s390x does not support "
         "TPM backend type emulator", machine="s390",
         devices=emulated_tpm("tpm-tis", " version='2.0'")),
    Rule("watchdog", "diag288 model of watchdog is allowed for s390 and s390x only",
         devices="    <watchdog model='diag288' action='reset'/> <<<",
         fixed=("diag288", "i6300esb")),
    Rule("panic", "only S390 guests support panic device of model 's390'",
         devices="    <panic model='s390'/> <<<", fixed=("s390", "isa")),
    Rule("panic", "only pSeries guests support panic device of model 'pseries'", machine="virt",
         devices="    <panic model='pseries'/> <<<"),
    Rule("iommu", "IOMMU device: 'intel' is only supported with Q35 machines", machine="pc",
         devices="    <iommu model='intel'/> <<<"),
    Rule("iommu", "IOMMU device: 'virtio' is only supported with Q35 and ARM Virt machines",
         machine="pc", devices="    <iommu model='virtio'/> <<<"),
    Rule("iommu", "iommu model 'virtio' doesn't support additional attributes",
         rest="  <features><acpi/></features>",
         devices="    <iommu model='virtio'>\n      <driver iotlb='on'/> <<<\n    </iommu>",
         fixed=("    <iommu model='virtio'>\n      <driver iotlb='on'/>\n    </iommu>",
                "    <iommu model='virtio'/>")),
    Rule("iommu", "IOMMU device: 'virtio' requires ACPI",
         devices="    <iommu model='virtio'/> <<<",
         fixed=("  <devices>", "  <features><acpi/></features>\n  <devices>")),
    Rule("iommu", "IOMMU interrupt remapping requires split I/O APIC (ioapic driver='qemu')",
         devices="    <iommu model='intel'>\n      <driver intremap='on'/> <<<\n    </iommu>",
         fixed=("  <devices>", "  <features><ioapic driver='qemu'/></features>\n  <devices>")),
    Rule("qemu-capability", "domain configuration does not support video model 'vbox'",
         devices="    <video>\n      <model type='vbox'/> <<<\n    </video>",
         fixed=("vbox", "vga")),
    Rule("qemu-capability", "domain configuration does not support video model 'qxl'",
         machine="virt", devices="    <video>\n      <model type='qxl'/> <<<\n    </video>",
         fixed=("qxl", "virtio")),
    Rule("video", "video type 'cirrus' is only valid as primary video device", machine="pc",
         devices="    <video><model type='vga'/></video>\n"
                 "    <video>\n      <model type='cirrus'/> <<<\n    </video>",
         fixed=("type='cirrus'", "type='qxl'")),
    Rule("video", "ram attribute only supported for video type qxl",
         devices="    <video>\n      <model type='vga' ram='65536'/> <<<\n    </video>",
         fixed=(" ram='65536'", "")),
    Rule("input", "unsupported input bus xen", devices="    <input type='mouse' bus='xen'/> <<<",
         fixed=("bus='xen'", "bus='usb'")),
    Rule("input", "ps2 bus does not support tablet input device",
         devices="    <input type='tablet' bus='ps2'/> <<<", fixed=("bus='ps2'", "bus='usb'")),
    Rule("input", "virtio (non-)transitional models are not supported for input type=keyboard",
         devices="    <input type='keyboard' bus='virtio' model='virtio-transitional'/> <<<",
         fixed=("virtio-transitional", "virtio")),
    Rule("qemu-capability", "ps2 is not supported by this QEMU binary", machine="virt",
         devices="    <input type='mouse' bus='ps2'/> <<<", fixed=("ps2", "virtio")),
    Rule("sound", "sound card model 'ich7' is not supported by qemu", machine="pc",
         devices="    <sound model='ich7'> <<<\n" + PCI5 + "    </sound>",
         fixed=("ich7", "ich9")),
    Rule("memballoon", "Memory balloon device type 'xen' is not supported by this version of "
         "qemu", machine="pc",
         devices="    <memballoon model='xen'> <<<\n" + PCI5 + "    </memballoon>",
         fixed=("xen", "virtio")),
    Rule("vsock", "guest CIDs must be >= 3",
         devices="    <vsock model='virtio'>\n      <cid auto='no' address='2'/> <<<\n"
                 "    </vsock>", fixed=("address='2'", "address='3'")),
    Rule("nvram", "nvram device is only supported for PPC64",
         devices="    <nvram> <<<\n      <address type='spapr-vio' reg='0x3000'/>\n"
                 "    </nvram>"),
    Rule("serial-target", "Serial device with target type 'sclp-serial' and target model "
         "'sclpconsole' not compatible with guest architecture or machine type",
         devices="    <serial type='pty'>\n      <target type='sclp-serial'> <<<\n"
                 "        <model name='sclpconsole'/>\n      </target>\n    </serial>",
         fixed=("<target type='sclp-serial'>\n        <model name='sclpconsole'/>\n"
                "      </target>", "<target type='isa-serial'/>")),
    Rule("serial-target", "Target model 'pl011' requires target type 'system-serial'",
         machine="virt",
         devices="    <serial type='pty'>\n      <target type='pci-serial'> <<<\n"
                 "        <model name='pl011'/>\n      </target>\n    </serial>",
         fixed=("type='pci-serial'", "type='system-serial'")),
    Rule("serial-target", "parallel ports are not supported", machine="pseries",
         devices="    <parallel type='pty'/> <<<"),
    Rule("console-target", "unsupported console target type xen",
         devices="    <console type='pty'>\n      <target type='xen'/> <<<\n    </console>",
         fixed=("type='xen'", "type='virtio'")),
    Rule("qemu-capability", "sclpconsole is not supported in this QEMU binary",
         devices="    <console type='pty'>\n      <target type='sclp'/> <<<\n    </console>",
         fixed=("type='sclp'", "type='virtio'")),
    Rule("chardev", "Missing source path attribute for char device",
         devices="    <serial type='file'>\n      <source/> <<<\n    </serial>",
         fixed=("<source/>", "<source path='/var/log/guest.log'/>")),
    Rule("chardev", "Missing source host attribute for char device",
         devices="    <serial type='tcp'>\n      <source mode='connect' service='4555'/> <<<\n"
                 "    </serial>", fixed=("mode='connect'", "mode='connect' host='127.0.0.1'")),
    Rule("chardev", "chardev reconnect is possible only for connect mode",
         devices="    <channel type='unix'>\n      <source mode='bind' path='/tmp/g.sock'>\n"
                 "        <reconnect enabled='yes' timeout='10'/> <<<\n      </source>\n"
                 "      <target type='virtio' name='org.qemu.guest_agent.0'/>\n"
                 "    </channel>", fixed=("mode='bind'", "mode='connect'")),
    Rule("chardev", "chardev reconnect source timeout cannot be '0'",
         devices="    <channel type='unix'>\n      <source mode='connect' path='/tmp/g.sock'>\n"
                 "        <reconnect enabled='yes' timeout='0'/> <<<\n      </source>\n"
                 "      <target type='virtio' name='org.qemu.guest_agent.0'/>\n"
                 "    </channel>", fixed=("timeout='0'", "timeout='5'")),
    Rule("chardev", "chardev 'spicevmc' not supported without spice graphics",
         devices="    <channel type='spicevmc'> <<<\n"
                 "      <target type='virtio' name='com.redhat.spice.0'/>\n    </channel>",
         fixed=("  </devices>", "    <graphics type='spice' autoport='yes'/>\n  </devices>")),
    Rule("interface", "rx_queue_size has to be a power of two",
         devices="    <interface type='user'>\n      <model type='virtio'/>\n"
                 "      <driver rx_queue_size='300'/> <<<\n    </interface>",
         fixed=("'300'", "'256'")),
    Rule("interface", "expected unicast mac address, found multicast '01:00:5e:00:00:01'",
         devices="    <interface type='user'>\n      <mac address='01:00:5e:00:00:01'/> <<<\n"
                 "    </interface>", fixed=("01:00:5e", "52:54:00")),
    Rule("interface", "unable to parse mac address '52:54:00:zz:00:01'",
         devices="    <interface type='user'>\n      <mac address='52:54:00:zz:00:01'/> <<<\n"
                 "    </interface>", fixed=(":zz:", ":12:")),
    Rule("interface", "Model name contains invalid characters",
         devices="    <interface type='user'>\n      <model type='vir tio'/> <<<\n"
                 "    </interface>", fixed=("vir tio", "virtio")),
    Rule("interface", "setting MTU on interface type user is not supported yet",
         devices="    <interface type='user'>\n      <mtu size='9000'/> <<<\n"
                 "    </interface>", fixed=("      <mtu size='9000'/>\n", "")),
    Rule("graphics", "graphics 'listen' attribute '127.0.0.1' must match 'address' attribute "
         "of first listen element (found '0.0.0.0')",
         devices="    <graphics type='vnc' listen='127.0.0.1'>\n"
                 "      <listen type='address' address='0.0.0.0'/> <<<\n    </graphics>",
         fixed=("'0.0.0.0'", "'127.0.0.1'")),
    Rule("graphics", "VNC password is 9 characters long, only 8 permitted",
         devices="    <graphics type='vnc' passwd='123456789'/> <<<"),
    Rule("shmem", "msi option is only supported with a server",
         devices="    <shmem name='shm0'>\n      <model type='ivshmem-doorbell'/>\n"
                 "      <msi vectors='4'/> <<<\n    </shmem>",
         fixed=("      <msi vectors='4'/>\n", "      <server path='/tmp/shm'/>\n"
                "      <msi vectors='4'/>\n")),
    Rule("filesystem", "virtiofs only supports passthrough accessmode",
         memory="<memory unit='MiB'>512</memory>\n  <memoryBacking><access mode='shared'/>"
                "</memoryBacking>",
         devices="    <filesystem type='mount' accessmode='mapped'> <<<\n"
                 "      <driver type='virtiofs'/>\n      <source dir='/srv/share'/>\n"
                 "      <target dir='share'/>\n    </filesystem>",
         fixed=(" accessmode='mapped'", "")),
    Rule("hostdev", "Missing <source> element in hostdev device",
         devices="    <hostdev mode='subsystem' type='usb'/> <<<"),
    Rule("rng", "only one RNG backend is supported",
         devices="    <rng model='virtio'>\n      <backend model='random'>/dev/urandom"
                 "</backend>\n      <backend model='random'>/dev/random</backend> <<<\n"
                 "    </rng>"),
    Rule("qemu-capability", "ivshmem device is not supported with this QEMU binary",
         devices="    <shmem name='shm0'> <<<\n      <size unit='M'>4</size>\n    </shmem>",
         fixed=("<size unit='M'>4</size>", "<model type='ivshmem-plain'/>"
                "<size unit='M'>4</size>")),
    Rule("qemu-capability", "This QEMU binary doesn't support zPCI",
         devices="    <hostdev mode='subsystem' type='pci' managed='yes'>\n      <source>"
                 "<address domain='0x0000' bus='0x00' slot='0x00' function='0x0'/></source>\n"
                 "      <address type='pci' domain='0x0000' bus='0x00' slot='0x08' "
                 "function='0x0'>\n        <zpci uid='0x0003' fid='0x00000027'/> <<<\n"
                 "      </address>\n    </hostdev>", machine="pc",
         fixed=("        <zpci uid='0x0003' fid='0x00000027'/>\n", "")),
    Rule("qemu-capability", "domain configuration does not support video model 'ramfb'",
         machine="pseries", devices="    <video>\n      <model type='ramfb'/> <<<\n"
                                    "    </video>", fixed=("ramfb", "vga")),
    Rule("qemu-capability", "the QEMU binary does not support the ISA panic device",
         machine="virt", devices="    <panic model='isa'/> <<<"),
    Rule("qemu-capability", "This QEMU doesn't support the LSI 53C895A SCSI controller",
         machine="s390", devices="    <controller type='scsi' index='0' model='lsilogic'/> <<<",
         fixed=("lsilogic", "virtio-scsi")),
    Rule("qemu-capability", "The ich9-intel-hda audio controller is not supported in this QEMU "
         "binary", machine="s390", devices="    <sound model='ich9'/> <<<"),
    Rule("qemu-capability", "vmcoreinfo is not available with this QEMU binary",
         machine="pseries", rest="  <features>\n    <vmcoreinfo state='on'/> <<<\n"
         "  </features>", fixed=("<vmcoreinfo state='on'/>", "<vmcoreinfo state='off'/>")),
]

def disk(target: str, *, device: str = "disk", kind: str = "file", driver: str = "",
         source: str = "<source file='/var/lib/libvirt/images/a.img'/>", extra: str = "",
         mark: str = "disk") -> str:
    """A disk, the line of ``mark`` (disk, driver, target) marked."""
    def m(what: str) -> str:
        return " <<<" if mark == what else ""
    lines = [f"    <disk type='{kind}' device='{device}'>{m('disk')}"]
    if driver:
        lines.append(f"      {driver}{m('driver')}")
    if source:
        lines.append(f"      {source}")
    lines.append(f"      {target}{m('target')}")
    if extra:
        lines.append(f"      {extra}")
    lines.append("    </disk>")
    return "\n".join(lines)


DISK_RULES = [
    Rule("disk-target", "missing target information for device /var/lib/libvirt/images/a.img",
         devices=disk("", mark="disk")),
    Rule("disk-device", "Invalid bus type 'sata' for floppy disk", machine="pc",
         devices=disk("<target dev='fda' bus='sata'/>", device="floppy", mark="target"),
         fixed=("bus='sata'", "bus='fdc'")),
    Rule("disk-device", "Invalid bus type 'fdc' for disk", machine="pc",
         devices=disk("<target dev='fda' bus='fdc'/>", mark="target"),
         fixed=("device='disk'", "device='floppy'")),
    Rule("disk-device", "disk device='lun' is only valid for block type disk source",
         devices=disk("<target dev='sda' bus='scsi'/>", device="lun"),
         fixed=("device='lun'", "device='disk'")),
    Rule("disk-device", "disk type of 'vdb' does not support ejectable media",
         devices=disk("<target dev='vdb' bus='virtio'/>", device="cdrom", mark="target"),
         fixed=("dev='vdb' bus='virtio'", "dev='sdb' bus='sata'")),
    Rule("disk-device", "disk model 'virtio' not supported for bus 'sata'",
         devices=disk("<target dev='sda' bus='sata'/>").replace(
             "device='disk'>", "device='disk' model='virtio'>"),
         fixed=(" model='virtio'", "")),
    Rule("disk-device", "Only scsi disk supports vendor and product",
         devices=disk("<target dev='vda' bus='virtio'/>", extra="<vendor>ACME</vendor>"),
         fixed=("dev='vda' bus='virtio'", "dev='sda' bus='scsi'")),
    Rule("disk-device", "readonly sata disks are not supported",
         devices=disk("<target dev='sda' bus='sata'/>", extra="<readonly/> <<<",
                      mark="none"), fixed=("device='disk'", "device='cdrom'")),
    Rule("disk-device", "io='native' needs either no disk cache or directsync cache mode",
         devices=disk("<target dev='vda' bus='virtio'/>", mark="driver",
                      driver="<driver name='qemu' type='raw' cache='writeback' io='native'/>"),
         fixed=("writeback", "none")),
    Rule("disk-device", "shared access for disk 'vda' requires use of supported storage format",
         devices=disk("<target dev='vda' bus='virtio'/>", extra="<shareable/>",
                      driver="<driver name='qemu' type='qcow2'/>"),
         fixed=("type='qcow2'", "type='raw'")),
    Rule("disk-target", "Invalid harddisk device name: fda",
         devices=disk("<target dev='fda' bus='virtio'/>", mark="target"),
         fixed=("dev='fda'", "dev='vda'")),
    Rule("disk-target", "invalid disk target 'vda1', partitions can't appear in disk targets",
         devices=disk("<target dev='vda1' bus='virtio'/>", mark="target"),
         fixed=("vda1", "vda")),
    Rule("disk-target", "Unknown disk name 'vd-a' and no address specified",
         devices=disk("<target dev='vd-a' bus='virtio'/>", mark="target"),
         fixed=("vd-a", "vda")),
    Rule("disk-target", "invalid disk target 'vd-a'", machine="pc",
         devices=disk("<target dev='vd-a' bus='virtio'/>", mark="target",
                      extra=PCI5.strip()), fixed=("vd-a", "vda")),
    Rule("disk-source", "missing source information for device vda",
         devices=disk("<target dev='vda' bus='virtio'/>", source=""),
         fixed=("device='disk'>\n      <target dev='vda' bus='virtio'/>",
                "device='cdrom'>\n      <target dev='sda' bus='sata'/>")),
    Rule("disk-format", "'cow' storage format is not supported",
         devices=disk("<target dev='vda' bus='virtio'/>", mark="driver",
                      driver="<driver name='qemu' type='cow'/>"), fixed=("'cow'", "'qcow2'")),
    Rule("disk-format", "storage format 'iso' is not directly supported by QEMU, use 'raw' "
         "instead", devices=disk("<target dev='sdb' bus='sata'/>", device="cdrom",
                                 mark="driver", driver="<driver name='qemu' type='iso'/>"),
         fixed=("'iso'", "'raw'")),
    Rule("disk-format", "encryption is supported only with 'raw' and 'qcow2' image format",
         devices=disk("<target dev='vda' bus='virtio'/>", mark="none",
                      driver="<driver name='qemu' type='vmdk'/>",
                      source="<source file='/var/lib/libvirt/images/a.img'>\n"
                             "        <encryption format='luks'> <<<\n"
                             "          <secret type='passphrase' "
                             "uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f'/>\n"
                             "        </encryption>\n      </source>"),
         fixed=("type='vmdk'", "type='qcow2'")),
]

MORE_RULES = [
    Rule("pci-controller", "PCI controller chassisNr '0' out of range - must be 1-255",
         machine="pc", devices="    <controller type='pci' index='1' model='pci-bridge'>\n"
                               "      <target chassisNr='0'/> <<<\n    </controller>",
         fixed=("chassisNr='0'", "chassisNr='1'")),
    Rule("pci-controller", "Option 'chassisNr' is not valid for PCI controller with index '1', "
         "model 'pcie-root-port' and modelName 'pcie-root-port'",
         devices="    <controller type='pci' index='1' model='pcie-root-port'>\n"
                 "      <target chassisNr='3'/> <<<\n    </controller>",
         fixed=("chassisNr='3'", "chassis='3'")),
    Rule("pci-controller", "Option 'modelName' has invalid value for PCI controller with index "
         "'1', model 'pcie-root-port' and modelName 'pci-bridge'",
         devices="    <controller type='pci' index='1' model='pcie-root-port'>\n"
                 "      <model name='pci-bridge'/> <<<\n    </controller>",
         fixed=("name='pci-bridge'", "name='ioh3420'")),
    Rule("pci-controller", "pci-expander-bus controllers are only supported on 440fx-based "
         "machinetypes", devices="    <controller type='pci' index='1' "
                                 "model='pci-expander-bus'/> <<<"),
    Rule("pci-controller", "pci-expander-bus with index 1 is configured for a NUMA node (1) not "
         "present in the domain's <cpu><numa> array (0)", machine="pc",
         devices="    <controller type='pci' index='1' model='pci-expander-bus'>\n"
                 "      <target busNr='254'>\n        <node>1</node> <<<\n      </target>\n"
                 "    </controller>", fixed=("        <node>1</node>\n", "")),
    Rule("pci-controller", "Setting the 64-bit PCI hole size is not supported for machine "
         "'virt-7.2'", devices="    <controller type='pci' index='0' model='pcie-root'>\n"
                               "      <pcihole64 unit='KiB'>1048576</pcihole64> <<<\n"
                               "    </controller>", machine="virt"),
    Rule("usb-controller", "USB controller model type 'qusb1' or 'qusb2' is not supported in "
         "qemu", devices="    <controller type='usb' index='0' model='qusb1'/> <<<",
         fixed=("qusb1", "qemu-xhci")),
    Rule("scsi-controller", "'queues' is only supported by virtio-scsi controller", machine="pc",
         devices="    <controller type='scsi' index='0' model='lsilogic'>\n"
                 "      <driver queues='4'/> <<<\n    </controller>",
         fixed=("model='lsilogic'", "model='virtio-scsi'")),
    Rule("hugepages", "two master hugepages detected: 2048 and 1048576",
         top="  <memoryBacking>\n    <hugepages>\n      <page size='1' unit='GiB'/>\n"
             "      <page size='2' unit='MiB' nodeset='0'/> <<<\n    </hugepages>\n"
             "  </memoryBacking>"),
    Rule("hugepages", "hugepages: node 2 not found",
         top="  <vcpu>2</vcpu>\n  <memoryBacking>\n    <hugepages>\n"
             "      <page size='2' unit='MiB' nodeset='0,2'/> <<<\n    </hugepages>\n"
             "  </memoryBacking>",
         rest="  <cpu><numa><cell id='0' cpus='0-1' memory='512' unit='MiB'/></numa></cpu>",
         fixed=("nodeset='0,2'", "nodeset='0'")),
    Rule("disk-source", "unknown secret type '<null>'",
         devices="    <disk type='network' device='disk'>\n"
                 "      <source protocol='iscsi' name='iqn.2013-07.com.example:iscsi/1'>\n"
                 "        <host name='example.com' port='3260'/>\n"
                 "        <auth username='myname'>\n"
                 "          <secret usage='mycluster_myname'/> <<<\n        </auth>\n"
                 "      </source>\n      <target dev='vda' bus='virtio'/>\n    </disk>",
         fixed=("<secret usage=", "<secret type='iscsi' usage=")),
    Rule("disk-source", "an <encryption> definition already found for disk source",
         devices="    <disk type='file' device='disk'>\n      <driver name='qemu' type='raw'/>\n"
                 "      <source file='/var/lib/libvirt/images/a.img'>\n"
                 "        <encryption format='luks'><secret type='passphrase' "
                 "uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f'/></encryption>\n"
                 "      </source>\n      <target dev='vda' bus='virtio'/>\n"
                 "      <encryption format='luks'> <<<\n        <secret type='passphrase' "
                 "uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f'/>\n      </encryption>\n"
                 "    </disk>"),
    Rule("serial-port", "target port '0' already allocated", machine="pc",
         devices="    <serial type='pty'><target type='isa-serial' port='0'/></serial>\n"
                 "    <serial type='pty'>\n      <target type='isa-serial' port='0'/> <<<\n"
                 "    </serial>", fixed=("port='0'/>\n    </serial>\n  </devices>",
                              "port='1'/>\n    </serial>\n  </devices>")),
    Rule("serial-port", "Maximum supported number of ISA serial ports is '4'", machine="pc",
         devices="    <serial type='pty'>\n      <target type='isa-serial' port='4'/> <<<\n"
                 "    </serial>", fixed=("port='4'", "port='3'")),
    Rule("rng", "only one RNG backend is supported", id="rng-without-backend",
         devices="    <rng model='virtio'/> <<<"),
    Rule("memory", "Memory size must be specified via <memory> or in the <numa> configuration",
         memory="<memory unit='MiB'>0</memory> <<<", id="memory-zero",
         fixed=(">0</memory>", ">512</memory>")),
    Rule("qemu-capability", "ivshmem device is not supported with this QEMU binary",
         id="shmem-model-without-type",
         devices="    <shmem name='shm0'> <<<\n      <model/>\n    </shmem>"),
    Rule("chardev", "chardev reconnect is possible only for connect mode",
         devices="    <channel type='unix'>\n"
                 "      <source mode='connect' path='/tmp/channel/domain-x/asdf'>\n"
                 "        <reconnect enabled='yes' timeout='10'/> <<<\n      </source>\n"
                 "      <target type='virtio' name='asdf'/>\n    </channel>",
         fixed=("domain-x/asdf", "guest-x/asdf"), id="chardev-generated-path"),
]

RULES = _ided(CPU_RULES + PLATFORM_RULES + UNIQUE_RULES + MODEL_RULES + DISK_RULES
               + MORE_RULES)


def check(rule: Rule, xml: str) -> list[Finding]:
    return augmenter.check(xml, EMBEDDED)


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_rule_reports_the_problem_at_its_line(rule: Rule) -> None:
    xml, line = rule.xml()
    found = [f for f in check(rule, xml) if f.code == rule.code]
    assert found, f"no {rule.code} finding: {check(rule, xml)}"
    first = found[0]
    assert first.severity == rule.severity
    assert rule.words in first.message
    assert first.hint
    if line is not None:
        assert first.line == line, first
    errors = [f for f in check(rule, xml) if f.severity == "error"]
    if rule.severity == "warning":
        assert not errors, errors


@pytest.mark.parametrize("rule", [r for r in RULES if r.fixed], ids=[r.id for r in RULES
                                                                       if r.fixed])
def test_the_guest_without_its_problem_is_clean(rule: Rule) -> None:
    found = check(rule, rule.fixed_xml())
    assert not found, found


@pytest.mark.parametrize("guest", CLEAN, ids=[g.id for g in CLEAN])
def test_a_guest_libvirt_accepts_has_no_error(guest: Rule) -> None:
    xml, _ = guest.xml()
    errors = [f for f in check(guest, xml) if f.severity == "error"]
    assert not errors, errors


def codes_in(module: object) -> set[str]:
    """The rule codes a module reports: the string after ``at(``/``on(`` and their element."""
    source = Path(str(getattr(module, "__file__", ""))).read_text()
    return set(re.findall(r"\b(?:at|on)\(\s*[^,()]+(?:\([^()]*\))?,\s*\"([a-z0-9-]+)\"",
                          source))


def test_every_define_time_rule_has_a_case() -> None:
    codes = set().union(*(codes_in(m) for m in RULE_MODULES))
    assert len(codes) >= 10
    missing = codes - {r.code for r in RULES}
    assert not missing, f"rule codes without a case in {__name__}: {sorted(missing)}"


# ---- libvirt's own verdict ------------------------------------------------------------------


def libvirt_verdict(rule: Rule, xml: str) -> tuple[bool, str, tuple[str, ...]]:
    libvirt_or_skip()
    arch = MACHINES[rule.machine][0]
    if not Path(f"/usr/bin/qemu-system-{arch}").exists():
        pytest.skip(f"qemu-system-{arch} not installed")
    name = f"augmenter-config-{os.getpid()}-{rule.id}"[:60]
    with tempfile.TemporaryDirectory() as folder:
        verdict = define_verdict(xml, name, Path(folder))
    return verdict.accepted, verdict.message, verdict.dropped


@pytest.mark.slow
@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_libvirt_says_the_same(rule: Rule) -> None:
    xml, _ = rule.xml()
    accepted, message, dropped = libvirt_verdict(rule, xml)
    if rule.severity == "error":
        assert not accepted, "libvirt accepts this guest"
        assert rule.words in message, message
    else:
        assert accepted, message
        assert dropped, "libvirt keeps everything of this guest"


@pytest.mark.slow
@pytest.mark.parametrize("rule", [r for r in RULES if r.fixed], ids=[r.id for r in RULES
                                                                       if r.fixed])
def test_libvirt_accepts_the_guest_without_its_problem(rule: Rule) -> None:
    accepted, message, dropped = libvirt_verdict(rule, rule.fixed_xml())
    assert accepted, message
    assert not dropped, dropped


@pytest.mark.slow
@pytest.mark.parametrize("guest", CLEAN, ids=[g.id for g in CLEAN])
def test_libvirt_accepts_the_clean_guests(guest: Rule) -> None:
    xml, _ = guest.xml()
    accepted, message, dropped = libvirt_verdict(guest, xml)
    assert accepted, message
    assert not dropped, dropped
