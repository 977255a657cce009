"""libvirt's knowledge, as data: per machine family (``machines``), per device (``devices``: PCI
classes and connection kinds), the values libvirt's parser refuses (``parse_rules``, from
``data/parse_rules.json``) and the names its schema knows in each place (``names``).
"""
