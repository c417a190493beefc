"""Errors of the simulator's own control surface (not FreeSWITCH replies)."""

from __future__ import annotations

from acd.errors import ValidationError


class SimulatorError(ValidationError):
    """A control call (place_call, add_agent_phone, HTTP control) was given bad input.

    Nothing is changed when it is raised.
    """

    slug = "sim-invalid-input"
