"""Validation: the rules that find every problem in a definition (``rules``), the names libvirt
does not know (``names``), libvirt's own RelaxNG schema (``schema``, for ``--schema``) and the
findings they report (``findings``).
"""
