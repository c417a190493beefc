"""Agents on their phones (R-PHONELOGIN, R-PAUSE, R-FREESEAT, R-MULTI) and the admin's
agent actions.

A feature-code call parks with ``acd_action`` (login | logout | pause | unpause),
``acd_action_arg`` (digits: a queue code or a pause reason code) and ``acd_phone``. The
engine asks for the agent id and the PIN with ``play_and_get_digits`` (no ``#``: a
number completes on its length or the inter-digit timeout), acts, confirms with a
prompt and hangs up. At login the phone used becomes the agent's contact for the session
(free seating).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from acd.engine import keypad
from acd.engine.effects import Effect, Fact
from acd.engine.events import AgentAction, AgentCommand, DigitsCollected, FeatureCodeCall
from acd.engine.records import CallRecord
from acd.errors import ACDError, ValidationError
from freeswitch.commands import check_dial_string
from freeswitch.errors import InvalidArgument

if TYPE_CHECKING:
    from acd.engine.engine import Engine

_log = structlog.get_logger("acd.agents")

_CONFIRM = {
    "login": "acd_login_ok",
    "logout": "acd_logout_ok",
    "pause": "acd_pause_ok",
    "unpause": "acd_unpause_ok",
}


def _ask(engine: Engine, record: CallRecord, prompt: str, now: float) -> list[Effect]:
    settings = engine.settings
    digits = settings.pin_digits if record.step == "pin" else settings.id_digits
    return keypad.ask(engine, record.contact, prompt, digits, now)


def feature_code_call(engine: Engine, event: FeatureCodeCall) -> list[Effect]:
    """A phone dialled a feature code: start asking for the agent id."""
    if engine.store.get_call(event.uuid) is not None:
        return []
    record = keypad.open_call(
        engine, event, "id", event.action, action_arg=event.arg, phone=event.phone
    )
    return _ask(engine, record, "acd_enter_agent_id", event.at)


def digits_timeout(engine: Engine, record: CallRecord, now: float) -> list[Effect]:
    if record.step in ("id", "pin"):
        return keypad.finish(engine, record, keypad.FAILED_PROMPT)
    return []


def digits_collected(engine: Engine, event: DigitsCollected) -> list[Effect]:
    record = engine.store.get_call(event.uuid)
    if record is None or record.kind != "feature" or record.step not in ("id", "pin"):
        return []
    record.state = "collecting"
    settings = engine.settings
    if record.step == "id":
        if event.digits and event.digits in settings.agents:
            record.entered_agent = event.digits
        else:
            record.entered_agent = ""  # ask for the PIN anyway: do not reveal valid ids
        record.step = "pin"
        engine.store.put_call(record)
        return _ask(engine, record, "acd_enter_pin", event.at)
    entry = settings.agents.get(record.entered_agent)
    if entry is None or not entry.check_pin(event.digits):
        record.step = "id"  # a wrong PIN asks again from the agent id
        return keypad.wrong_pin(
            engine,
            record,
            lambda: _ask(engine, record, "acd_enter_agent_id", event.at),
            "acd.login_failed",
        )
    phone = None
    if record.action == "login" and record.phone:
        try:
            phone = check_dial_string(settings.phone_template.format(phone=record.phone))
        except (InvalidArgument, KeyError, ValueError):
            phone = None
    queues = _queues_for(engine, entry.id, record.action, record.action_arg)
    reason = None
    if record.action == "pause":
        reason = settings.pause_reasons.get(record.action_arg, "break")
    try:
        effects = apply(
            engine, entry.id, record.action, event.at, queues=queues, reason=reason, phone=phone
        )
    except ACDError as exc:
        # Whatever refused the action (routing, validation, the agent table), the phone
        # hears the failure prompt now rather than silence until the guard timer.
        _log.warning("acd.agent_action_failed", agent=entry.id, error=str(exc))
        return keypad.finish(engine, record, keypad.FAILED_PROMPT)
    return effects + keypad.finish(engine, record, _CONFIRM[record.action])


def _queues_for(engine: Engine, agent_id: str, action: str, arg: str) -> tuple[str, ...] | None:
    if action not in ("login", "logout") or not arg:
        return None
    queue = engine.settings.queue_codes.get(arg)
    return (queue,) if queue is not None else ()


def agent_command(engine: Engine, event: AgentCommand) -> list[Effect]:
    """An administrator's login/logout/pause/unpause (R-MULTI). Raises
    :class:`routing.errors.RoutingError` or :class:`acd.errors.ValidationError` for an
    unknown agent or queue or an action the agent's state does not allow."""
    if event.agent not in engine.settings.agents:
        raise ValidationError(f"unknown agent: {event.agent!r}")
    return apply(
        engine, event.agent, event.action, event.at, queues=event.queues, reason=event.reason
    )


def apply(
    engine: Engine,
    agent_id: str,
    action: AgentAction | str,
    now: float,
    *,
    queues: tuple[str, ...] | None = None,
    reason: str | None = None,
    phone: str | None = None,
) -> list[Effect]:
    """Carry out an agent action in routing, then record the phone's state.

    ``queues`` None: all of the agent's own queues (login) or every queue (logout); a
    queue outside the agent's own is refused with :class:`ValidationError`."""
    entry = engine.settings.agents[agent_id]
    router = engine.router
    if action == "login":
        chosen = entry.queues if queues is None else queues
        foreign = [q for q in chosen if q not in entry.queues]
        if foreign or not chosen:
            raise ValidationError(f"agent {agent_id} is not a member of {foreign or 'any queue'}")
        reservations = router.login(agent_id, list(chosen), now)
        record = engine.agent_record(agent_id)
        joined = sorted(set(record.queues) | set(chosen))
        changes: dict[str, object] = {"queues": joined}
        if phone is not None:
            changes["phone"] = phone
        engine.agent_event(agent_id, "login", now, **changes)
        fact = Fact("agent_login", {"agent": agent_id, "queues": list(chosen), "phone": phone})
    elif action == "logout":
        reservations = router.logout(agent_id, None if queues is None else list(queues), now)
        record = engine.agent_record(agent_id)
        left = [] if queues is None else [q for q in record.queues if q not in queues]
        if left:
            record.queues = left
            engine.store.put_agent(record)
        else:
            engine.agent_event(agent_id, "logout", now, queues=[], phone=None)
        fact = Fact("agent_logout", {"agent": agent_id, "queues": list(queues or [])})
    elif action == "pause":
        why = reason or "break"
        reservations = router.pause(agent_id, why, now)
        engine.agent_event(agent_id, "pause", now, pause_reason=why)
        fact = Fact("agent_pause", {"agent": agent_id, "reason": why})
    elif action == "unpause":
        reservations = router.unpause(agent_id, now)
        engine.agent_event(agent_id, "unpause", now, pause_reason=None)
        fact = Fact("agent_unpause", {"agent": agent_id})
    else:
        raise ValidationError(f"unknown agent action: {action!r}")
    return [*engine.offers(reservations, now), fact]
