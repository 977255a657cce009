"""libvirt's knowledge, as data: per machine family (``machines``), per device (``devices``: PCI
classes and connection kinds), the values libvirt accepts when it parses (``vocabulary``) and
the names its schema knows in each place (``names``).
"""
