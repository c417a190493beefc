"""Generated caller traffic for demos and benchmarks.

Callers arrive as a Poisson process (``arrival_rate`` per simulated second) into the
dialplan (``destinations``, weighted). A caller who is not bridged to an agent within a
sampled patience gives up (``ORIGINATOR_CANCEL`` if never answered, else
``NORMAL_CLEARING``); once bridged the call lasts a sampled talk time, after which the
caller or (with ``agent_hangup_share``) the agent hangs up. Agent phones ``user/<n>`` are
registered with an answer delay distribution and a behaviour mix. All durations are in
simulated seconds (the simulator's ``time_scale`` applies). The engine under test does
the queueing and the ``originate``/``uuid_bridge``; this only plays the people.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import gevent

from freeswitch.sim.errors import SimulatorError
from freeswitch.sim.events import SimEvent
from freeswitch.sim.originate import BEHAVIOURS, AgentPhone
from freeswitch.sim.simulator import Simulator


@dataclass(frozen=True)
class Distribution:
    """``kind`` "fixed" (mean), "exponential" (mean) or "uniform" (low..high)."""

    kind: str = "exponential"
    mean: float = 1.0
    low: float = 0.0
    high: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("fixed", "exponential", "uniform"):
            raise SimulatorError(f"distribution kind {self.kind!r} is not known")
        if self.mean < 0 or self.low < 0 or self.high < self.low:
            raise SimulatorError(f"distribution {self} has bad bounds")

    def sample(self, rng: random.Random) -> float:
        if self.kind == "fixed" or (self.mean == 0 and self.kind == "exponential"):
            return self.mean
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        return rng.expovariate(1.0 / self.mean)

    @classmethod
    def parse(cls, text: str) -> Distribution:
        """``"30"`` (exponential, mean 30), ``"fixed:5"``, ``"uniform:1:3"``, ``"exp:30"``."""
        parts = text.split(":")
        try:
            if len(parts) == 1:
                return cls("exponential", float(parts[0]))
            kind = {"exp": "exponential", "exponential": "exponential"}.get(parts[0], parts[0])
            if kind == "uniform" and len(parts) == 3:
                low, high = float(parts[1]), float(parts[2])
                return cls("uniform", (low + high) / 2, low, high)
            if len(parts) == 2:
                return cls(kind, float(parts[1]))
        except ValueError:
            pass
        raise SimulatorError(f"distribution {text!r} is not NUMBER, kind:NUMBER or uniform:A:B")


@dataclass(frozen=True)
class TrafficProfile:
    arrival_rate: float = 1.0
    patience: Distribution = field(default_factory=lambda: Distribution("exponential", 60.0))
    talk_time: Distribution = field(default_factory=lambda: Distribution("exponential", 120.0))
    destinations: Mapping[str, float] = field(default_factory=lambda: {"7000": 1.0})
    agents: int = 0
    agent_answer: Distribution = field(
        default_factory=lambda: Distribution("uniform", 2.0, 1.0, 3.0)
    )
    agent_mix: Mapping[str, float] = field(default_factory=lambda: {"answer": 1.0})
    agent_hangup_share: float = 0.0
    max_calls: int | None = None
    first_agent: int = 1000

    def __post_init__(self) -> None:
        if self.arrival_rate <= 0:
            raise SimulatorError("arrival_rate must be > 0")
        if not self.destinations or any(w < 0 for w in self.destinations.values()):
            raise SimulatorError("destinations need non-negative weights")
        if any(b not in BEHAVIOURS for b in self.agent_mix):
            raise SimulatorError(f"agent_mix {dict(self.agent_mix)} names unknown behaviours")
        if not 0.0 <= self.agent_hangup_share <= 1.0:
            raise SimulatorError("agent_hangup_share must be within 0..1")
        if self.agents < 0 or (self.max_calls is not None and self.max_calls < 0):
            raise SimulatorError("agents and max_calls must not be negative")


def _nothing() -> None:
    return None


class TrafficGenerator:
    """Plays callers (and registers agent phones) against a running Simulator."""

    def __init__(self, sim: Simulator, profile: TrafficProfile, seed: int | None = None) -> None:
        self.sim = sim
        self.profile = profile
        self.rng = random.Random(seed)
        self.stats: Counter[str] = Counter()
        self._callers: set[str] = set()
        self._arrivals: gevent.Greenlet[..., None] | None = None
        self._unhook: Callable[[], None] = _nothing

    def register_agents(self) -> list[str]:
        contacts = []
        low, high = self.profile.agent_answer.low, self.profile.agent_answer.high
        base = (
            low if self.profile.agent_answer.kind == "uniform" else self.profile.agent_answer.mean
        )
        jitter = high - low if self.profile.agent_answer.kind == "uniform" else 0.0
        for index in range(self.profile.agents):
            contact = f"user/{self.profile.first_agent + index}"
            self.sim.add_agent_phone(
                AgentPhone(
                    contact,
                    answer_after=base,
                    answer_jitter=jitter,
                    mix=dict(self.profile.agent_mix),
                )
            )
            contacts.append(contact)
        return contacts

    def start(self) -> None:
        self.register_agents()
        self._unhook = self.sim.on_event(self._on_event)
        self._arrivals = gevent.spawn(self._arrive)

    def stop(self) -> None:
        self._unhook()
        if self._arrivals is not None:
            self._arrivals.kill(block=False)

    def _arrive(self) -> None:
        destinations = list(self.profile.destinations)
        weights = [self.profile.destinations[d] for d in destinations]
        # Arrival times are kept on an absolute schedule and each caller is placed in a
        # greenlet of its own: the time place_call takes (CPU, dialplan) must not slow
        # the arrival rate down (at 100 calls/s it halved it).
        due = time.monotonic()
        while self.profile.max_calls is None or self.stats["offered"] < self.profile.max_calls:
            due += self.rng.expovariate(self.profile.arrival_rate) * self.sim.time_scale
            gevent.sleep(max(0.0, due - time.monotonic()))
            destination = self.rng.choices(destinations, weights=weights)[0]
            number = f"07{self.rng.randint(0, 99_999_999):08d}"
            patience = self.profile.patience.sample(self.rng)
            self.stats["offered"] += 1
            self.sim.core.spawn(self._place, number, destination, patience)

    def _place(self, number: str, destination: str, patience: float) -> None:
        uuid = self.sim.place_call(number, destination)
        self._callers.add(uuid)
        self._give_up(uuid, patience)

    def _give_up(self, uuid: str, patience: float) -> None:
        self.sim.core.sleep(patience)
        ch = self.sim.core.find(uuid)
        if ch is None or not ch.is_up or ch.bridged or ch.other_leg:
            return
        self.stats["abandoned"] += 1
        self.sim.core.hangup(ch, "NORMAL_CLEARING" if ch.answered_us else "ORIGINATOR_CANCEL")

    def _on_event(self, event: SimEvent) -> None:
        # Hooks run inside Core.fire: never block here, hand off to a greenlet.
        if event.name == "CHANNEL_BRIDGE":
            a, b = event.get("Bridge-A-Unique-ID"), event.get("Bridge-B-Unique-ID")
            caller = a if a in self._callers else b if b in self._callers else None
            if caller is not None:
                self.stats["bridged"] += 1
                agent = b if caller == a else a
                talk = self.profile.talk_time.sample(self.rng)
                by_agent = self.rng.random() < self.profile.agent_hangup_share
                self.sim.core.spawn(self._end_call, agent if by_agent else caller, talk)
        elif event.name == "CHANNEL_DESTROY" and event.unique_id in self._callers:
            self._callers.discard(event.unique_id or "")
            self.stats["ended"] += 1

    def _end_call(self, uuid: str, talk: float) -> None:
        self.sim.core.sleep(talk)
        ch = self.sim.core.find(uuid)
        if ch is not None and ch.is_up:
            self.stats["completed"] += 1
            self.sim.core.hangup(ch, "NORMAL_CLEARING")

    def summary(self) -> dict[str, int]:
        return {
            key: self.stats[key]
            for key in ("offered", "bridged", "abandoned", "completed", "ended")
        }
