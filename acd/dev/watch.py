"""Log the events the engine uses, one line each: a first check of a FreeSWITCH set-up."""

from __future__ import annotations

from typing import Literal

import gevent
import gevent.event
import structlog

from acd.adapters.translate import ENGINE_EVENTS
from freeswitch.client import ClientSettings, ESLClient
from freeswitch.messages import Event

_log = structlog.get_logger("acd.dev.watch")

# Three missed FreeSWITCH heartbeats (20 s apart by default) mean it hangs: reconnect.
IDLE_TIMEOUT = 60.0

# The channel variables the dialplan snippets set; shown when present.
ACD_VARIABLES = (
    "acd_queue",
    "acd_language",
    "acd_skills",
    "acd_priority",
    "acd_case_type",
    "acd_action",
    "acd_action_arg",
)


def describe(event: Event) -> dict[str, object]:
    """The fields an ACD acts on, for one log line."""
    fields: dict[str, object] = {"uuid": event.uuid}
    for key, value in (
        ("caller", event.caller_number),
        ("destination", event.destination),
        ("other_leg", event.other_leg),
        ("application", event.application),
        ("data", event.application_data),
        ("response", event.application_response),
        ("file", event.playback_file),
        ("status", event.playback_status),
        ("digit", event.dtmf_digit),
        ("cause", event.hangup_cause),
        ("job", event.job_uuid),
    ):
        if value:
            fields[key] = value
    if event.name == "BACKGROUND_JOB":
        fields["result"] = event.body.strip()
    variables = event.variables
    for name in ACD_VARIABLES:
        if name in variables:
            fields[name] = variables[name]
    return fields


def attach_logger(client: ESLClient) -> None:
    def log_event(event: Event) -> None:
        _log.info(event.dispatch_key or "event", **describe(event))

    client.register_handle("*", log_event)
    client.on_reconnected(lambda: _log.warning("esl.reconnected"))


def watch(
    host: str,
    port: int,
    password: str,
    event_format: Literal["plain", "json"],
    duration: float,
) -> int:
    settings = ClientSettings(
        host=host,
        port=port,
        password=password,
        events=ENGINE_EVENTS,
        event_format=event_format,
        idle_timeout=IDLE_TIMEOUT,
    )
    client = ESLClient(settings)
    attach_logger(client)
    client.connect()
    _log.info("esl.connected", host=host, port=port, events=len(ENGINE_EVENTS))
    try:
        gevent.event.Event().wait(duration if duration > 0 else None)
    finally:
        client.stop()
    return 0
