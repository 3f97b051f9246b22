"""Issuers of workload JWTs trusted for the jwt-bearer grant, and their rules (SEP-1933, a draft; decision 0051).

Owns the ``workload_issuers`` and ``workload_rules`` tables.
"""
