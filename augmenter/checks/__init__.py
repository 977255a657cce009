"""Validation: the rules that find every problem in a definition (``rules``) and the findings
they report (``findings``).
"""
