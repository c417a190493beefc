"""What a waiting caller hears about their place (R-POS, R-POSALL, R-EWT, R-AGENTS,
R-NUMBERS).

Numbers are spoken by FreeSWITCH's say modules inside the shipped phrase macros
(``freeswitch/conf/lang/<lang>/acd.xml``), so gender and cardinal/ordinal forms follow
the caller's language: the engine only passes the number.
"""

from __future__ import annotations

import math

from acd.engine.policy import AnnouncePart, QueuePolicy
from freeswitch.media import Phrase
from routing.api import PositionInfo

#: Every phrase macro the engine plays (announcements, feature codes, the default
#: whisper): each must exist for every language in freeswitch/conf/lang/<lang>/acd.xml.
PHRASE_MACROS: tuple[str, ...] = (
    "acd_position",
    "acd_ewt",
    "acd_agents",
    "acd_enter_agent_id",
    "acd_enter_pin",
    "acd_login_ok",
    "acd_login_failed",
    "acd_logout_ok",
    "acd_pause_ok",
    "acd_unpause_ok",
    "acd_whisper",
)


def announcement(
    policy: QueuePolicy, info: PositionInfo, *, first: bool, case_type: str | None
) -> list[Phrase]:
    """The phrases of one announcement, in the order they play.

    The position is ``info.announced_position`` (never rises, R-POS); the expected wait is
    whole minutes rounded up (at least 1) and left out when uncertain or inhibited for the
    case type (R-EWT); the agents on duty for this caller (logged in, not paused:
    ``info.staffed_agents``) only on the first announcement and only when at least
    ``policy.agents_min`` (R-AGENTS). Not ``available_agents``: a caller who waits has no
    free agent able to serve it (one would have been offered), so that count is 0
    whenever an announcement plays."""
    parts: tuple[AnnouncePart, ...] = policy.first if first else policy.repeat
    phrases: list[Phrase] = []
    for part in parts:
        if part == "position" and info.announced_position > 0:
            phrases.append(Phrase("acd_position", str(info.announced_position)))
        elif part == "ewt":
            if info.ewt_uncertain or (case_type and case_type in policy.ewt_inhibit_case_types):
                continue
            minutes = max(1, math.ceil(info.ewt_seconds / 60.0))
            phrases.append(Phrase("acd_ewt", str(minutes)))
        elif (
            part == "agents"
            and first
            and policy.agents_min is not None
            and info.staffed_agents >= policy.agents_min
        ):
            phrases.append(Phrase("acd_agents", str(info.staffed_agents)))
    return phrases
