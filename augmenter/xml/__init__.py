"""The XML layer: parsing under limits, child look-ups, and a write that keeps the input's
spelling. It knows XML and lxml, nothing about libvirt's elements (see ``docs/architecture.md``).
"""
