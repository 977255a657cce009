"""libvirt's knowledge, as data: per machine family (``machines``), per device (``devices``: PCI
classes and connection kinds) and the values libvirt accepts when it parses (``vocabulary``).
"""
