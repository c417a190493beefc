"""The simulator's channel model: what FreeSWITCH keeps per leg and prints in events.

A :class:`Channel` holds the state FreeSWITCH reports (``Channel-State``,
``Channel-Call-State``, ``Answer-State``, ``Hangup-Cause``), the caller profile
(``Caller-*``), the times of its life (µs since the epoch, 0 when not reached), its
variables in insertion order, and its relations (bridged leg, running application,
queued broadcasts). It does no I/O: :mod:`freeswitch.sim.core` changes it and fires events.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from freeswitch.sim.templates import STATE_NUMBERS

if TYPE_CHECKING:
    from freeswitch.sim.applications import AppRequest, AppRun

Direction = Literal["inbound", "outbound"]


@dataclass(eq=False)
class CallerProfile:
    """``switch_caller_profile_t`` as ``switch_caller_profile_event_set_data`` prints it."""

    caller_id_name: str
    caller_id_number: str
    destination_number: str
    source: str
    context: str
    username: str = ""
    dialplan: str = ""
    orig_caller_id_name: str = ""
    orig_caller_id_number: str = ""
    callee_id_name: str = ""
    callee_id_number: str = ""
    network_addr: str = ""
    ani: str = ""
    transfer_source: str = ""
    created_us: int = 0


@dataclass(eq=False)
class Channel:
    """One leg. Times are epoch microseconds; 0 means "not yet" as in FreeSWITCH."""

    uuid: str
    direction: Direction
    name: str
    profile: CallerProfile
    created_us: int
    variables: dict[str, str] = field(default_factory=dict)
    state: str = "CS_NEW"
    call_state: str = "DOWN"
    answer_state: str = "ringing"
    hangup_cause: str | None = None
    hit_dialplan: bool = True
    call_uuid: str = ""
    presence_id: str = ""
    has_codec: bool = True
    answered_us: int = 0
    progress_us: int = 0
    progress_media_us: int = 0
    bridged_us: int = 0
    hangup_us: int = 0
    transfer_us: int = 0
    other_leg: str | None = None
    other_type: str | None = None
    partner: Channel | None = field(default=None, repr=False)
    bridge_a: str | None = None
    bridge_b: str | None = None
    parked: bool = False
    park_app_uuid: str = ""
    application: str = ""
    application_data: str = ""
    current_app: AppRun | None = None
    pending: deque[AppRequest] = field(default_factory=deque)
    destroyed: bool = False
    torn_down: bool = False
    caller_kind: str = "sip"

    def __post_init__(self) -> None:
        if not self.call_uuid:
            self.call_uuid = self.uuid

    @property
    def is_up(self) -> bool:
        """False once CHANNEL_HANGUP has fired."""
        return self.hangup_cause is None

    @property
    def bridged(self) -> bool:
        return self.bridge_a is not None and self.bridge_b is not None

    def set_variable(self, name: str, value: str | None) -> None:
        """Set (or with ``None`` unset) a variable; a re-set moves it to the end like FS."""
        self.variables.pop(name, None)
        if value is not None:
            self.variables[name] = value

    def profile_headers(self, prefix: str, times: bool = True) -> list[tuple[str, str]]:
        """The ``<prefix>-*`` caller-profile block (``Caller-`` or ``Other-Leg-``)."""
        p = self.profile
        out: list[tuple[str, str]] = [
            (f"{prefix}-Direction", self.direction),
            (f"{prefix}-Logical-Direction", self.logical_direction),
        ]
        optional = (
            ("Username", p.username),
            ("Dialplan", p.dialplan),
            ("Caller-ID-Name", p.caller_id_name),
            ("Caller-ID-Number", p.caller_id_number),
            ("Orig-Caller-ID-Name", p.orig_caller_id_name),
            ("Orig-Caller-ID-Number", p.orig_caller_id_number),
            ("Callee-ID-Name", p.callee_id_name),
            ("Callee-ID-Number", p.callee_id_number),
            ("Network-Addr", p.network_addr),
            ("ANI", p.ani),
        )
        out.extend((f"{prefix}-{key}", value) for key, value in optional if value)
        out.append((f"{prefix}-Destination-Number", p.destination_number))
        out.append((f"{prefix}-Unique-ID", self.uuid))
        out.append((f"{prefix}-Source", p.source))
        if p.transfer_source:
            out.append((f"{prefix}-Transfer-Source", p.transfer_source))
        out.append((f"{prefix}-Context", p.context))
        out.append((f"{prefix}-Channel-Name", self.name))
        if prefix == "Caller":
            out.append(("Caller-Profile-Index", "1"))

        def stamp(value: int) -> str:
            return str(value) if times else "0"

        out.extend(
            [
                (f"{prefix}-Profile-Created-Time", stamp(p.created_us or self.created_us)),
                (f"{prefix}-Channel-Created-Time", stamp(self.created_us)),
                (f"{prefix}-Channel-Answered-Time", stamp(self.answered_us)),
                (f"{prefix}-Channel-Progress-Time", stamp(self.progress_us)),
                (f"{prefix}-Channel-Progress-Media-Time", stamp(self.progress_media_us)),
                (f"{prefix}-Channel-Hangup-Time", stamp(self.hangup_us)),
                (f"{prefix}-Channel-Transfer-Time", stamp(self.transfer_us)),
                (f"{prefix}-Channel-Resurrect-Time", "0"),
                (f"{prefix}-Channel-Bridged-Time", stamp(self.bridged_us)),
                (f"{prefix}-Channel-Last-Hold", "0"),
                (f"{prefix}-Channel-Hold-Accum", "0"),
                (f"{prefix}-Screen-Bit", "true"),
                (f"{prefix}-Privacy-Hide-Name", "false"),
                (f"{prefix}-Privacy-Hide-Number", "false"),
            ]
        )
        return out

    @property
    def logical_direction(self) -> str:
        # An answered outbound leg has its caller id flipped (channel_cid_flipped).
        if self.direction == "outbound" and self.variables.get("channel_cid_flipped") == "yes":
            return "inbound"
        return self.direction

    def data_headers(self, other: Channel | None) -> list[tuple[str, str]]:
        """``switch_channel_event_set_basic_data`` + the caller profiles, in FS order."""
        out: list[tuple[str, str]] = [
            ("Channel-State", self.state),
            ("Channel-Call-State", self.call_state),
            ("Channel-State-Number", str(STATE_NUMBERS[self.state])),
            ("Channel-Name", self.name),
            ("Unique-ID", self.uuid),
            ("Call-Direction", self.direction),
            ("Presence-Call-Direction", self.direction),
            ("Channel-HIT-Dialplan", "true" if self.hit_dialplan else "false"),
        ]
        if self.presence_id:
            out.append(("Channel-Presence-ID", self.presence_id))
        out.append(("Channel-Call-UUID", self.call_uuid))
        out.append(("Answer-State", self.answer_state))
        if self.hangup_cause is not None:
            out.append(("Hangup-Cause", self.hangup_cause))
        if self.has_codec:
            out.extend(
                [
                    ("Channel-Read-Codec-Name", "PCMU"),
                    ("Channel-Read-Codec-Rate", "8000"),
                    ("Channel-Read-Codec-Bit-Rate", "64000"),
                    ("Channel-Write-Codec-Name", "PCMU"),
                    ("Channel-Write-Codec-Rate", "8000"),
                    ("Channel-Write-Codec-Bit-Rate", "64000"),
                ]
            )
        out.extend(self.profile_headers("Caller"))
        if other is not None and self.other_type is not None:
            out.append(("Other-Type", self.other_type))
            # The originator's times print as 0 on the originatee, as recorded.
            out.extend(other.profile_headers("Other-Leg", times=self.other_type == "originatee"))
        return out

    def variable_headers(self) -> list[tuple[str, str]]:
        return [(f"variable_{name}", value) for name, value in self.variables.items()]

    def show_row(self, hostname: str, created_text: str) -> dict[str, str]:
        """One row of ``show channels as json`` (s07 layout)."""
        p = self.profile
        bridged = self.bridged
        return {
            "uuid": self.uuid,
            "direction": self.direction,
            "created": created_text,
            "created_epoch": str(self.created_us // 1_000_000),
            "name": self.name,
            "state": self.state,
            "cid_name": p.caller_id_name,
            "cid_num": p.caller_id_number,
            "ip_addr": p.network_addr,
            "dest": p.destination_number,
            "application": self.application,
            "application_data": self.application_data,
            "dialplan": p.dialplan,
            "context": p.context,
            "read_codec": "PCMU" if self.has_codec else "",
            "read_rate": "8000" if self.has_codec else "",
            "read_bit_rate": "64000" if self.has_codec else "",
            "write_codec": "PCMU" if self.has_codec else "",
            "write_rate": "8000" if self.has_codec else "",
            "write_bit_rate": "64000" if self.has_codec else "",
            "secure": "",
            "hostname": hostname,
            "presence_id": self.presence_id,
            "presence_data": "",
            "accountcode": "",
            "callstate": self.call_state,
            "callee_name": p.callee_id_name,
            "callee_num": p.callee_id_number,
            "callee_direction": "SEND" if bridged else "",
            "call_uuid": self.call_uuid if bridged or self.direction == "outbound" else "",
            "sent_callee_name": "",
            "sent_callee_num": "",
            "initial_cid_name": p.orig_caller_id_name,
            "initial_cid_num": p.orig_caller_id_number or p.caller_id_number,
            "initial_ip_addr": p.network_addr,
            "initial_dest": p.destination_number,
            "initial_dialplan": p.dialplan,
            "initial_context": p.context,
        }
