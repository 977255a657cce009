"""Which QEMU device types a device setting needs, and libvirt's words when the binary lacks
them: libvirt 9.0's capability checks, as data.

libvirt learns a binary's capabilities from the QOM types it lists (``virQEMUCapsObjectTypes``
in ``src/qemu/qemu_capabilities.c`` maps each type to a ``QEMU_CAPS_*`` flag, and
``query-tpm-models`` names the TPM front-ends); its validation (``src/qemu/qemu_validate.c``)
then refuses a device whose flag is missing. The catalogue of a board's QEMU lists the same
device types (``Emulator.device_types``), so each rule here is a key (a kind of setting and its
value), the types of which the binary must have one, and the message.

Every type named here is in :data:`TYPES`, which the board drift test compares between the
shipped table and a fresh QEMU (``policy.machines.QEMU_TYPES_ASKED`` includes it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Needs:
    """QEMU types of which one must exist, and libvirt's message when none does; ``{emulator}``
    stands for the binary's path where libvirt names it."""

    types: tuple[str, ...]
    message: str
    source: str  # the libvirt function that refuses it


VIRTIO_GPU = ("virtio-gpu-pci", "virtio-gpu-device", "virtio-gpu-ccw")

# (kind, value) -> what it needs
NEEDS: dict[tuple[str, str], Needs] = {
    # qemuValidateDomainDeviceDefVideo, through virQEMUCapsFillDomainDeviceVideoCaps
    **{("video", model): Needs(types, f"domain configuration does not support video model "
                                      f"'{model}'", "qemuValidateDomainDeviceDefVideo")
       for model, types in (("vga", ("VGA",)), ("cirrus", ("cirrus-vga",)),
                            ("vmvga", ("vmware-svga",)), ("qxl", ("qxl",)),
                            ("virtio", VIRTIO_GPU), ("bochs", ("bochs-display",)),
                            ("ramfb", ("ramfb",)),
                            # no QEMU has these: libvirt never sets them in the video caps
                            ("xen", ()), ("vbox", ()), ("parallels", ()), ("gop", ()))},
    # qemuValidateDomainDeviceDefTPM, through virQEMUCapsFillDomainDeviceTPMCaps: the models
    # come from query-tpm-models, whose "tpm-tis" is tpm-tis-device on ARM
    **{("tpm", model): Needs(types, "The QEMU executable {emulator} does not support TPM "
                                    f"model {model}", "qemuValidateDomainDeviceDefTPM")
       for model, types in (("tpm-tis", ("tpm-tis", "tpm-tis-device")),
                            ("tpm-crb", ("tpm-crb",)), ("tpm-spapr", ("tpm-spapr",)),
                            ("spapr-tpm-proxy", ("spapr-tpm-proxy",)))},
    # a binary without any TPM has neither TPM backend (query-tpm-types)
    **{("tpm-backend", kind): Needs(("tpm-tis", "tpm-tis-device", "tpm-crb", "tpm-spapr"),
                                    "The QEMU executable {emulator} does not support TPM "
                                    f"backend type {kind}", "qemuValidateDomainDeviceDefTPM")
       for kind in ("emulator", "passthrough", "external")},
    ("shmem", "ivshmem"): Needs(("ivshmem",), "ivshmem device is not supported with this "
                                "QEMU binary", "qemuValidateDomainDeviceDefShmem"),
    **{("shmem", model): Needs((model,), f"shmem model '{model}' is not supported by this "
                                         "QEMU binary", "qemuValidateDomainDeviceDefShmem")
       for model in ("ivshmem-plain", "ivshmem-doorbell")},
    ("sound", "usb"): Needs(("usb-audio",), "usb-audio controller is not supported by this "
                            "QEMU binary", "qemuValidateDomainDeviceDefSound"),
    ("sound", "ich9"): Needs(("ich9-intel-hda",), "The ich9-intel-hda audio controller is not "
                             "supported in this QEMU binary", "qemuValidateDomainDeviceDefSound"),
    **{("codec", codec): Needs((f"hda-{codec}",), f"hda-{codec} not supported in this QEMU "
                                                   "binary", "qemuValidateDomainDeviceDefSound")
       for codec in ("duplex", "micro", "output")},
    ("vsock", "vsock"): Needs(("vhost-vsock-device", "vhost-vsock-pci", "vhost-vsock-ccw"),
                              "vsock device is not supported with this QEMU binary",
                              "qemuValidateDomainDeviceDefVsock"),
    ("input", "ps2"): Needs(("i8042",), "ps2 is not supported by this QEMU binary",
                            "qemuValidateDomainDeviceDefInput"),
    ("input", "usb-keyboard"): Needs(("usb-kbd",), "usb keyboard is not supported by this "
                                     "QEMU binary", "qemuValidateDomainDeviceDefInput"),
    **{("input", f"virtio-{kind}"): Needs((f"{base}-pci", f"{base}-device", f"{base}-ccw"),
                                          f"{base} is not supported by this QEMU binary",
                                          "qemuValidateDomainDeviceDefInput")
       for kind, base in (("mouse", "virtio-mouse"), ("tablet", "virtio-tablet"),
                          ("keyboard", "virtio-keyboard"),
                          ("passthrough", "virtio-input-host"))},
    ("panic", "isa"): Needs(("pvpanic",), "the QEMU binary does not support the ISA panic "
                            "device", "qemuValidateDomainDefPanic"),
    ("iommu", "intel"): Needs(("intel-iommu",), "IOMMU device: 'intel' is not supported with "
                              "this QEMU binary", "qemuValidateDomainDeviceDefIOMMU"),
    ("iommu", "virtio"): Needs(("virtio-iommu-pci",), "IOMMU device: 'virtio' is not "
                               "supported with this QEMU binary",
                               "qemuValidateDomainDeviceDefIOMMU"),
    ("hub", "usb"): Needs(("usb-hub",), "usb-hub not supported by QEMU binary",
                          "qemuValidateDomainDeviceDefHub"),
    ("memory", "dimm"): Needs(("pc-dimm",), "memory hotplug isn't supported by this QEMU "
                              "binary", "qemuValidateDomainDeviceDefMemory"),
    ("memory", "nvdimm"): Needs(("nvdimm",), "nvdimm isn't supported by this QEMU binary",
                                "qemuValidateDomainDeviceDefMemory"),
    ("memory", "virtio-pmem"): Needs(("virtio-pmem-pci",), "virtio-pmem isn't supported by "
                                     "this QEMU binary", "qemuValidateDomainDeviceDefMemory"),
    ("memory", "virtio-mem"): Needs(("virtio-mem-pci",), "virtio-mem isn't supported by this "
                                    "QEMU binary", "qemuValidateDomainDeviceDefMemory"),
    ("memory", "sgx-epc"): Needs(("sgx-epc",), "sgx epc isn't supported by this QEMU binary",
                                 "qemuValidateDomainDeviceDefMemory"),
    ("rng", "virtio"): Needs(("virtio-rng-pci", "virtio-rng-device", "virtio-rng-ccw"),
                             "domain configuration does not support rng model 'virtio'",
                             "qemuValidateDomainRNGDef"),
    ("redirdev", "usb"): Needs(("usb-redir",), "USB redirection is not supported by this "
                               "version of QEMU", "qemuValidateDomainRedirdevDef"),
    ("smartcard", "host"): Needs(("ccid-card-emulated",), "this QEMU binary lacks smartcard "
                                 "host mode support", "qemuValidateDomainSmartcardDef"),
    ("smartcard", "host-certificates"): Needs(("ccid-card-emulated",), "this QEMU binary "
                                              "lacks smartcard host mode support",
                                              "qemuValidateDomainSmartcardDef"),
    ("smartcard", "passthrough"): Needs(("ccid-card-passthru",), "this QEMU binary lacks "
                                        "smartcard passthrough mode support",
                                        "qemuValidateDomainSmartcardDef"),
    ("console", "sclp"): Needs(("sclpconsole",), "sclpconsole is not supported in this QEMU "
                               "binary", "qemuValidateDomainDefConsole"),
    ("console", "sclplm"): Needs(("sclplmconsole",), "sclplmconsole is not supported in this "
                                 "QEMU binary", "qemuValidateDomainDefConsole"),
    ("hostdev", "pci"): Needs(("vfio-pci",), "VFIO PCI device assignment is not supported by "
                              "this version of qemu", "qemuValidateDomainDeviceDefHostdev"),
    ("hostdev", "vfio-ccw"): Needs(("vfio-ccw",), "VFIO CCW device assignment is not "
                                   "supported by this version of QEMU",
                                   "qemuValidateDomainMdevDef"),
    ("hostdev", "vfio-ap"): Needs(("vfio-ap",), "VFIO AP device assignment is not supported "
                                  "by this version of QEMU", "qemuValidateDomainMdevDefVFIOAP"),
    ("hostdev", "vhost-scsi"): Needs(("vhost-scsi",), "This QEMU doesn't support vhost-scsi "
                                     "devices", "qemuValidateDomainDeviceDefHostdev"),
    ("zpci", "zpci"): Needs(("zpci",), "This QEMU binary doesn't support zPCI",
                            "qemuValidateDomainDeviceDefZPCIAddress"),
    ("disk", "usb"): Needs(("usb-storage",), "This QEMU doesn't support '-device usb-storage'",
                           "qemuValidateDomainDeviceDefDiskFrontend"),
    ("disk", "lun"): Needs(("scsi-block",), "This QEMU doesn't support scsi-block for lun "
                           "passthrough", "qemuValidateDomainDeviceDefDiskFrontend"),
    ("disk", "vhostuser"): Needs(("vhost-user-blk",), "vhostuser disk is not supported with "
                                 "this QEMU binary", "qemuValidateDomainDeviceDefDisk"),
    ("filesystem", "virtiofs"): Needs(("vhost-user-fs-device",), "virtiofs is not supported "
                                      "with this QEMU binary", "qemuValidateDomainDeviceDefFS"),
    ("sata", "sata"): Needs(("ich9-ahci",), "SATA is not supported with this QEMU binary",
                            "qemuValidateDomainDeviceDefControllerSATA"),
    ("feature", "vmcoreinfo"): Needs(("vmcoreinfo",), "vmcoreinfo is not available with this "
                                     "QEMU binary", "qemuValidateDomainDefFeatures"),
    ("genid", "genid"): Needs(("vmgenid",), "this QEMU does not support the 'genid' capability",
                              "qemuValidateDomainDef"),
    # qemuValidateDomainDeviceDefControllerPCI: the QEMU device of a PCI controller's model name
    **{("pci-model", name): Needs((name,), f"The '{name}' device is not supported by this QEMU "
                                           "binary", "qemuValidateDomainDeviceDefControllerPCI")
       for name in ("pci-bridge", "i82801b11-bridge", "ioh3420", "x3130-upstream",
                    "xio3130-downstream", "pxb", "pxb-pcie", "pcie-root-port",
                    "spapr-pci-host-bridge", "pcie-pci-bridge")},
    # qemuValidateCheckSCSIControllerModel
    **{("scsi", model): Needs(types, f"This QEMU doesn't support {what}",
                              "qemuValidateCheckSCSIControllerModel")
       for model, types, what in (
           ("lsilogic", ("lsi53c895a",), "the LSI 53C895A SCSI controller"),
           ("virtio-scsi", ("virtio-scsi-pci", "virtio-scsi-ccw", "virtio-scsi-device"),
            "virtio scsi controller"),
           ("virtio-transitional", ("virtio-scsi-pci",), "virtio scsi controller"),
           ("virtio-non-transitional", ("virtio-scsi-pci",), "virtio scsi controller"),
           ("lsisas1068", ("mptsas1068",), "the LSI SAS1068 (MPT Fusion) controller"),
           ("lsisas1078", ("megasas",), "the LSI SAS1078 (MegaRAID) controller"),
           ("vmpvscsi", ("pvscsi",), "the pvscsi (VMware paravirtual SCSI) controller"))},
}

# every QEMU type a capability rule asks about
TYPES: frozenset[str] = frozenset(t for needs in NEEDS.values() for t in needs.types)
