"""The engine's view of the configuration: per-queue call handling and the agents'
directory. Built from :mod:`acd.config` by :mod:`acd.app`; kept separate so the core
depends on nothing but these small frozen types."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from acd.engine.menus import MenuBook
from acd.engine.rules import RuleBook
from freeswitch.media import RINGBACK, LocalStream, Phrase, Playable

if TYPE_CHECKING:
    from acd.engine.hours import HoursSettings
    from acd.engine.recording import RecordingSettings

AnnouncePart = Literal["position", "ewt", "agents"]


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """How the engine treats callers of one queue. Times in seconds.

    - ``announce_first_after``/``announce_every``: when the first announcement plays after
      queueing and the cadence of the repeats (R-POS).
    - ``first``/``repeat``: what each says (R-POS, R-EWT, R-AGENTS); ``ewt`` is skipped for
      case types in ``ewt_inhibit_case_types`` and while the estimate is uncertain;
      ``agents`` only when at least ``agents_min`` agents are available.
    - ``waiting_sound``: ``auto`` plays ``moh`` to answered callers and ``ringback`` to
      unanswered ones (R-NOSILENCE).
    - ``whisper``: what both parties hear before the bridge (R-WHISPER), or None.
    - ``ring_timeout``: the agent leg's ``originate_timeout`` (whole seconds).
    - ``private_max_wait``: R-PRIVQ; ``sticky_window``/``sticky_wait``: R-STICKY (0: off).
    """

    name: str
    announce_first_after: float = 0.0
    announce_every: float = 30.0
    first: tuple[AnnouncePart, ...] = ("position", "ewt", "agents")
    repeat: tuple[AnnouncePart, ...] = ("position",)
    ewt_inhibit_case_types: frozenset[str] = frozenset()
    agents_min: int | None = None
    waiting_sound: Literal["auto", "moh", "ringback"] = "auto"
    moh: Playable = field(default_factory=lambda: LocalStream("moh"))
    ringback: Playable = RINGBACK
    whisper: Playable | None = field(default_factory=lambda: Phrase("acd_whisper"))
    ring_timeout: int = 20
    wrap_up_seconds: float = 0.0
    no_answer_state: Literal["available", "paused"] = "available"
    private_max_wait: float = 300.0
    sticky_window: float = 0.0
    sticky_wait: float = 20.0
    transfer_priority: int = 100


def hash_pin(pin: str) -> str:
    """The ``pin_sha256`` of ``pin``: SHA-256 of its digits, 64 lowercase hex digits."""
    return hashlib.sha256(pin.encode("ascii", "replace")).hexdigest()


def pin_matches(entered: str, pin_sha256: str) -> bool:
    """Whether the keyed digits ``entered`` hash to ``pin_sha256`` (hex), compared in
    constant time; anything but digits (or nothing) never matches."""
    return entered.isdigit() and hmac.compare_digest(hash_pin(entered), pin_sha256)


@dataclass(frozen=True, slots=True)
class AgentEntry:
    """An agent as the phone login sees it (R-PHONELOGIN): the id (digits), the SHA-256
    of the PIN (hex), the default contact (dial string) and the queues of their own."""

    id: str
    pin_sha256: str
    contact: str | None
    queues: tuple[str, ...]
    name: str = ""

    def check_pin(self, entered: str) -> bool:
        """Constant-time comparison of the keyed digits with the stored hash."""
        return pin_matches(entered, self.pin_sha256)


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Everything the core needs besides the ports.

    ``queue_codes`` maps the digits of ``*21<code>`` to a queue name; ``pause_reasons``
    maps the digits of ``*23<code>`` to a reason. ``whisper_timeout``: longest whisper
    before the bridge happens anyway; ``announce_check_after``: how long a prompt may take
    to start (``PLAYBACK_START``) before it counts as not played. ``phone_template``
    turns the number an agent logs in from into a dial string (free seating).
    ``transfer_prefix``: what an agent keys during a call, followed by a queue code, for a
    priority transfer of the caller to that queue (R-PRIO; "" turns it off).
    ``tick_interval``: seconds between routing ticks (wrap-up ends, expiries, escalation);
    ``reconcile_retry_after``: seconds after a caller's arrival was refused by a failing
    routing store until a reconciliation adopts it (besides connect, reconnect and
    dropped events)."""

    queues: Mapping[str, QueuePolicy]
    agents: Mapping[str, AgentEntry]
    queue_codes: Mapping[str, str] = field(default_factory=dict)
    pause_reasons: Mapping[str, str] = field(default_factory=dict)
    id_digits: tuple[int, int] = (1, 10)
    pin_digits: tuple[int, int] = (4, 8)
    digit_timeout_ms: int = 3000
    first_digit_timeout_ms: int = 8000
    max_tries: int = 3
    whisper_timeout: float = 15.0
    announce_check_after: float = 5.0
    phone_template: str = "user/{phone}"
    tick_interval: float = 0.25
    transfer_prefix: str = "*8"
    reconcile_retry_after: float = 5.0
    hours: HoursSettings | None = None  # calendars, closed actions (R-CALENDAR)
    menus: MenuBook = field(default_factory=MenuBook)  # entries and menus (R-WELCOME)
    rules: RuleBook = field(default_factory=RuleBook)  # queues' rules (R-RULES)
    recording: RecordingSettings | None = None  # prompts recorded by phone (R-PROMPTS)

    def digits_guard(self) -> float:
        """Seconds after a ``play_and_get_digits`` starts until the engine gives up on it
        (the channel lost media and it never completes): the longest entry plus 30 s."""
        longest = max(self.id_digits[1], self.pin_digits[1])
        return (self.first_digit_timeout_ms + longest * self.digit_timeout_ms) / 1000.0 + 30.0

    def reservation_timeout(self, policy: QueuePolicy) -> float:
        """Routing's reservation lifetime: the ring, the whisper and a margin, so the
        router never expires an offer the engine is still working on."""
        return float(policy.ring_timeout) + self.whisper_timeout + 15.0
