"""The routing benchmark's workload, written against the public ``routing.api.Router``.

A Python-side mirror of who is available and what is waiting lets every timed call be
chosen so that it must make exactly one reservation, and lets the benchmark check that
the reservation is the one the rules demand (docs/ROUTING.md): a benchmark whose
decisions silently found nothing would measure the wrong thing.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from routing.api import AgentProfile, Contact, QueueConfig, Router, Target

SKILLS = 200
OTHER_LANGUAGES = ("es", "fr", "de")
# Nobody speaks it: contacts that need it wait however many agents are available.
NOBODY = "zz"
HANDLE_SECONDS = 60.0
START = 1_700_000_000.0


def queue_name(skill: int) -> str:
    return f"q{skill:03d}"


def skill_name(skill: int) -> str:
    return f"s{skill:03d}"


class Clock:
    """Virtual time, one millisecond per call: every arrival has its own score."""

    def __init__(self) -> None:
        self.ms = 0

    def now(self) -> float:
        self.ms += 1
        return START + self.ms / 1000.0


@dataclass(frozen=True, slots=True)
class Workload:
    """200 one-skill queues; agents with 3-6 skills (levels 1..10) logged into all of them.

    A queue asks for its skill at level 1..3, so a few agents are logged into queues they
    can never serve: the scans must step over them.
    """

    levels: tuple[int, ...]  # queue index -> minimum level of its skill
    agents: tuple[AgentProfile, ...]

    def queues_of(self, agent: AgentProfile) -> list[str]:
        return sorted(queue_name(int(skill[1:])) for skill in agent.skills)

    def qualifies(self, agent: AgentProfile, skill: int) -> bool:
        return agent.skills.get(skill_name(skill), 0) >= self.levels[skill]


def make_workload(agents: int, seed: int) -> Workload:
    rng = random.Random(seed)
    levels = tuple(rng.randint(1, 3) for _ in range(SKILLS))
    profiles = []
    for index in range(agents):
        skills = rng.sample(range(SKILLS), rng.randint(3, 6))
        languages = ["en"]
        if rng.random() < 0.5:
            languages.append(rng.choice(OTHER_LANGUAGES))
        profiles.append(
            AgentProfile(
                id=f"a{index:05d}",
                skills={skill_name(s): rng.randint(1, 10) for s in skills},
                languages=tuple(languages),
            )
        )
    return Workload(levels, tuple(profiles))


@dataclass(slots=True)
class Waiting:
    """What the mirror knows of a waiting contact."""

    id: str
    skill: int
    language: str | None
    priority: int
    arrival: float

    @property
    def key(self) -> tuple[int, float, str]:
        return (-self.priority, self.arrival, self.id)


@dataclass
class Timings:
    """Seconds per timed call, one list per round."""

    rounds: list[list[float]] = field(default_factory=list)

    def add_round(self, samples: list[float]) -> None:
        self.rounds.append(samples)

    def eps(self) -> float:
        return statistics.median(1.0 / statistics.fmean(r) for r in self.rounds)

    def pct_ms(self, pct: float) -> float:
        return statistics.median(_percentile(r, pct) * 1000.0 for r in self.rounds)


def _percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100.0 * len(ordered)) - 1))
    return ordered[index]


def timed(call: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


class Bench:
    """One tenant at one size: set-up, then the two decision kinds, each as rounds."""

    def __init__(self, router: Router, workload: Workload, waiting: int, seed: int) -> None:
        self.router = router
        self.workload = workload
        self.waiting_target = waiting
        self.rng = random.Random(seed)
        self.clock = Clock()
        self.serial = 0
        self.by_id = {agent.id: agent for agent in workload.agents}
        self.qualified = {
            s: [a.id for a in workload.agents if workload.qualifies(a, s)] for s in range(SKILLS)
        }
        self.staffed = [s for s in range(SKILLS) if self.qualified[s]]
        self.waiting: dict[int, dict[str, Waiting]] = {s: {} for s in range(SKILLS)}
        self.holding: dict[str, str] = {}  # agent -> its busy contact (free phase)
        self.decisions = 0

    def _contact_id(self, tag: str) -> str:
        self.serial += 1
        return f"{tag}{self.serial:07d}"

    # ------------------------------------------------------------------ set-up

    def load_agents(self) -> None:
        now = self.clock.now()
        for skill in range(SKILLS):
            self.router.put_queue(
                QueueConfig(
                    name=queue_name(skill), skills={skill_name(skill): self.workload.levels[skill]}
                ),
                now,
            )
        for agent in self.workload.agents:
            self.router.put_agent(agent, self.clock.now())
            made = self.router.login(agent.id, self.workload.queues_of(agent), self.clock.now())
            assert not made, f"login of {agent.id} reserved {made}"

    def load_unservable(self) -> list[str]:
        """Waiting contacts nobody can take (language nobody speaks), spread evenly."""
        ids = []
        for index in range(self.waiting_target):
            now = self.clock.now()
            cid = self._contact_id("w")
            contact = Contact(cid, "voice", queue_name(index % SKILLS), now, language=NOBODY)
            made = self.router.arrive(contact, now)
            assert not made, f"unservable contact {cid} was reserved: {made}"
            ids.append(cid)
        return ids

    def make_all_busy(self, unservable: list[str]) -> None:
        """Every agent takes a private contact and answers it; then the waiting contacts
        are replaced by servable ones, which wait because nobody is free."""
        for agent in self.workload.agents:
            now = self.clock.now()
            cid = self._contact_id("p")
            target = Target(agent.id, "private", 3600.0)
            queue = self.workload.queues_of(agent)[0]
            made = self.router.arrive(Contact(cid, "voice", queue, now, target=target), now)
            assert [(r.agent_id, r.contact_id) for r in made] == [(agent.id, cid)], made
            self.router.confirm(made[0].id, self.clock.now())
            self.holding[agent.id] = cid
        for cid in unservable:
            assert not self.router.abandon(cid, self.clock.now())
        for index in range(self.waiting_target):
            self._top_up(index % SKILLS)

    def _top_up(self, skill: int) -> None:
        now = self.clock.now()
        roll = self.rng.random()
        language = None if roll < 0.5 else ("en" if roll < 0.8 else self.rng.choice(("es", "fr")))
        priority = self.rng.choice((0, 0, 0, 1, 2))
        item = Waiting(self._contact_id("c"), skill, language, priority, now)
        contact = Contact(
            item.id, "voice", queue_name(skill), now, language=language, priority=priority
        )
        made = self.router.arrive(contact, now)
        assert not made, f"{item.id} was reserved while every agent is busy: {made}"
        self.waiting[skill][item.id] = item

    # --------------------------------------------------------- arrival -> agent

    def arrive_once(self) -> float:
        """Time one arrival that must reserve a qualified agent; restore untimed."""
        skill = self.rng.choice(self.staffed)
        now = self.clock.now()
        cid = self._contact_id("a")
        language = self.rng.choice((None, "en"))
        contact = Contact(cid, "voice", queue_name(skill), now, language=language)
        seconds, result = timed(lambda: self.router.arrive(contact, now))
        assert isinstance(result, list) and len(result) == 1, f"arrive {cid}: {result}"
        made = result[0]
        assert made.contact_id == cid and made.agent_id in self.qualified[skill], made
        self.decisions += 1
        self.router.confirm(made.id, self.clock.now())
        freed = self.router.complete(cid, self.clock.now(), HANDLE_SECONDS)
        assert not freed, f"freed agent took an unservable contact: {freed}"
        return seconds

    # ------------------------------------------------------- agent-free -> contact

    def _eligible(self, agent: AgentProfile, item: Waiting) -> bool:
        return self.workload.qualifies(agent, item.skill) and (
            item.language is None or item.language in agent.languages
        )

    def _best_for(self, agent: AgentProfile) -> Waiting | None:
        candidates = [
            item
            for queue_skill in (int(skill[1:]) for skill in agent.skills)
            for item in self.waiting[queue_skill].values()
            if self._eligible(agent, item)
        ]
        return min(candidates, key=lambda item: item.key, default=None)

    def free_once(self) -> float:
        """Time one ``complete`` whose freed agent must take its best waiting contact."""
        busy = list(self.holding)
        for _attempt in range(1000):
            agent = self.by_id[self.rng.choice(busy)]
            expected = self._best_for(agent)
            if expected is not None:
                break
        else:
            raise AssertionError("no busy agent can take any waiting contact")
        current = self.holding[agent.id]
        now = self.clock.now()
        seconds, result = timed(lambda: self.router.complete(current, now, HANDLE_SECONDS))
        assert isinstance(result, list) and len(result) == 1, f"free {agent.id}: {result}"
        made = result[0]
        assert (made.agent_id, made.contact_id) == (agent.id, expected.id), (made, expected)
        self.decisions += 1
        del self.waiting[expected.skill][expected.id]
        self.router.confirm(made.id, self.clock.now())
        self.holding[agent.id] = expected.id
        self._top_up(expected.skill)
        return seconds

    def measure(self, once: Callable[[], float], count: int) -> list[float]:
        return [once() for _ in range(count)]
