"""Adapters at the engine's edge: the Event Socket, Redis, timers, reconciliation and
the one place that wires them (:mod:`acd.adapters.runner`)."""
