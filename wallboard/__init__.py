"""Metrics, wallboard page, dashboards and alert rules."""
