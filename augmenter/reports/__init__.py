"""Reports on a placed guest: where everything went and why (``explain``), and a picture of the
topology (``graph``).
"""
