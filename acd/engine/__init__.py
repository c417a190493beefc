"""The engine core: typed events in, effects out, no I/O of its own.

:class:`acd.engine.engine.Engine` holds the call and agent state machines
(:mod:`acd.engine.states`), talks to the routing port (:class:`routing.api.Router`) and a
call store port (:class:`acd.engine.store.CallStore`), and returns
:mod:`acd.engine.effects` for the adapters in :mod:`acd.adapters` to carry out.
"""
