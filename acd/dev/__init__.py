"""Tools for development and first checks, kept apart from the engine.

``redis_server`` (a private Redis for tests, benchmarks and the demo), ``watch`` (log the
events the engine uses) and ``demo`` (``make demo``). They may use the engine; the engine
never imports them (an import-linter contract in setup.cfg, run by ``make lint``).
"""
