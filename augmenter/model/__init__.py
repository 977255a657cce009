"""The domain model: the devices of a ``<domain>`` as records, PCI addresses as values, and the
connection kinds of libvirt's ``virDomainPCIConnectFlags``. No board and no policy here.
"""
