"""The operator's probes: ``/health/alive`` and ``/health/ready`` (issue 17, docs/decisions/0033)."""
