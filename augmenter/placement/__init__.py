"""Placement: the generic PCI topology engine (``topology``), the guest being placed
(``guest``), libvirt's defaults and implicit devices (``defaults``), and one pass per address
kind (``pci``, ``vserial``, ``usb``, ``ccw``, ``spapr``, ``transports``). See
``docs/placement.md``.
"""
