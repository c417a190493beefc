"""Asking a feature-code caller for digits: one ``play_and_get_digits`` at a time, a PIN
checked against its SHA-256, a limited number of tries, and the closing prompt.

Shared by the agent login (:mod:`acd.engine.agents`), the admin feature code
(:mod:`acd.engine.hours`) and the prompt recording (:mod:`acd.engine.recording`). A
collection never retries inside FreeSWITCH (``tries=1``): the engine counts the tries on
the call record (``record.tries``) so that a wrong PIN is logged, reported as a
``login_failed`` fact and asked again from the step the flow chooses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from acd.engine.effects import CancelTimers, Effect, Fact, Send, SetTimer
from acd.engine.events import AdminFeatureCall, FeatureCodeCall
from acd.engine.records import CallRecord
from freeswitch import commands
from freeswitch.commands import SendMsg
from freeswitch.media import Phrase

if TYPE_CHECKING:
    from acd.engine.engine import Engine

_log = structlog.get_logger("acd.keypad")

DIGITS_VARIABLE = "acd_digits"
"""The channel variable the digits land in (the adapter reads it back)."""
FAILED_PROMPT = "acd_login_failed"
"""The phrase for a refused PIN or code, a timeout and the last failed try."""


def open_call(
    engine: Engine,
    event: FeatureCodeCall | AdminFeatureCall,
    step: str,
    action: str,
    *,
    action_arg: str = "",
    phone: str = "",
) -> CallRecord:
    """The stored record of the new feature-code call of ``event``, about to be asked for
    digits in ``step``."""
    record = CallRecord(
        contact=event.uuid,
        kind="feature",
        state="collecting",
        parked_at=event.at,
        language=event.language,
        action=action,
        action_arg=action_arg,
        phone=phone,
        step=step,
    )
    engine.store.put_call(record)
    return record


def collect(
    engine: Engine,
    contact: str,
    prompt: str,
    digits: tuple[int, int],
    regex: str = "\\d+",
) -> SendMsg:
    """The ``play_and_get_digits`` command that plays phrase ``prompt`` and collects
    ``digits`` = (fewest, most) digits matching ``regex`` into :data:`DIGITS_VARIABLE`. No
    terminator: a number completes on its length or the inter-digit timeout."""
    settings = engine.settings
    low, high = digits
    return commands.play_and_get_digits(
        contact,
        min_digits=low,
        max_digits=high,
        tries=1,
        timeout_ms=settings.first_digit_timeout_ms,
        terminators="none",
        prompt=Phrase(prompt),
        invalid_prompt=Phrase(FAILED_PROMPT),
        variable=DIGITS_VARIABLE,
        digits_regex=regex,
        digit_timeout_ms=settings.digit_timeout_ms,
    )


def ask(
    engine: Engine,
    contact: str,
    prompt: str,
    digits: tuple[int, int],
    now: float,
) -> list[Effect]:
    """:func:`collect`, with the ``digits`` guard timer (``now``: epoch seconds) that ends
    the call if no result ever comes back (the channel lost media)."""
    message = collect(engine, contact, prompt, digits)
    return [Send(message), SetTimer(contact, "digits", now + engine.settings.digits_guard())]


def finish(engine: Engine, record: CallRecord, prompt: str) -> list[Effect]:
    """Play phrase ``prompt``, hang up and cancel the call's timers; the record is stored
    with step ``done`` (later digits and timers are ignored)."""
    record.step = "done"
    engine.store.put_call(record)
    return [
        Send(commands.play(record.contact, Phrase(prompt))),
        Send(commands.hangup(record.contact)),
        CancelTimers(record.contact),
    ]


def refuse(contact: str) -> list[Effect]:
    """Play the failure prompt and hang up a call the engine does not take on (its feature
    is off); nothing is stored."""
    return [Send(commands.play(contact, Phrase(FAILED_PROMPT))), Send(commands.hangup(contact))]


def retry(
    engine: Engine, record: CallRecord, ask_again: Callable[[], list[Effect]]
) -> list[Effect]:
    """Count a failed try: after ``max_tries`` the call ends with the failure prompt,
    otherwise the record is stored and ``ask_again()`` gives the next question."""
    record.tries += 1
    if record.tries >= engine.settings.max_tries:
        return finish(engine, record, FAILED_PROMPT)
    engine.store.put_call(record)
    return ask_again()


def wrong_pin(
    engine: Engine,
    record: CallRecord,
    ask_again: Callable[[], list[Effect]],
    log_event: str = "acd.admin_pin_failed",
) -> list[Effect]:
    """A refused PIN: logged as ``log_event`` (never the digits), a ``login_failed`` fact,
    then :func:`retry`."""
    _log.warning(log_event, contact=record.contact, tries=record.tries + 1)
    failed: list[Effect] = [Fact("login_failed", {"contact": record.contact})]
    return failed + retry(engine, record, ask_again)
