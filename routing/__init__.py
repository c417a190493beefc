"""Routing decisions: skills, longest idle, priorities, escalation, positions, expected wait."""
