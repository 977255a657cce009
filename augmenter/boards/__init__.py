"""Boards: what QEMU builds for a machine type. Records and their JSON (``records``), where
they come from (``lookup``: the cache, QEMU, the shipped table), the disk cache (``cache``) and
the QMP introspection that asks QEMU (``introspect``).
"""
