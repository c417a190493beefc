"""The whole configuration, and the checks that span its sections."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, model_validator

from acd.config.admin import AdminSettings, admin_problems
from acd.config.agents import AgentId, AgentSettings, FeatureCodeSettings
from acd.config.calendars import CalendarSettings, EmergencySettings
from acd.config.endpoints import EslSettings, HttpSettings, RedisSettings
from acd.config.entries import EntrySettings, MenuSettings, entry_problems
from acd.config.problems import CrossCheckError, Loc
from acd.config.prompts import PromptSettings
from acd.config.queues import DEFAULT_LANGUAGE, QueueSettings, SoundSettings
from acd.config.rules import rule_problems
from acd.config.supervision import Thresholds, WallboardSettings
from acd.config.types import Frozen, FrozenMap, Language, List, Name, check_language, text_check

Description = Annotated[str, text_check(200)]


class Config(Frozen):
    """The engine's configuration: one YAML file, validated and frozen.

    Mappings are read-only and keep the file's order. Beyond each value's own checks, every
    queue, skill and language named anywhere must be declared, queue codes and tokens
    are unique, and agent ids and PINs fit ``feature_codes``. Build it with
    :func:`acd.config.load_config` or :func:`acd.config.parse_config`; validating a
    mapping directly (``Config.model_validate``) raises pydantic's ``ValidationError``.
    """

    tenant: Name = "default"
    """Names this contact centre's keys in Redis (``acd:{tenant}:...``)."""
    esl: EslSettings = EslSettings()
    redis: RedisSettings | None = None
    """Null only where the program brings its own Redis (``acd demo``)."""
    http: HttpSettings = HttpSettings()
    language: Language = DEFAULT_LANGUAGE
    """Default language of queues and agents."""
    languages: List[Language] = ("sv", "en")
    """Languages callers may be served in; each needs its phrase macros and prompts."""
    skills: FrozenMap[Name, Description] = Field(default_factory=dict)
    """``{skill: description}``: every skill used anywhere must be declared here."""
    feature_codes: FeatureCodeSettings = FeatureCodeSettings()
    sounds: SoundSettings = SoundSettings()
    queues: FrozenMap[Name, QueueSettings] = Field(min_length=1)
    agents: FrozenMap[AgentId, AgentSettings] = Field(default_factory=dict)
    wallboard: WallboardSettings = WallboardSettings()
    entries: FrozenMap[Name, EntrySettings] = Field(default_factory=dict)
    menus: FrozenMap[Name, MenuSettings] = Field(default_factory=dict)
    """Entry numbers, their welcome and menus (R-WELCOME, R-DTMF; acd/config/entries.py)."""
    calendars: FrozenMap[Name, CalendarSettings] = Field(default_factory=dict)
    """Opening hours, holidays, exceptions, timed messages (acd/config/calendars.py)."""
    emergency: EmergencySettings | None = None
    """The emergency message's prompt (null: ``emergency``)."""
    admin: AdminSettings = AdminSettings()
    """The admin PIN of the feature codes *25 (record) and *26/*27 (emergency message)."""
    prompts: PromptSettings = PromptSettings()

    @model_validator(mode="before")
    @classmethod
    def _fill_from_keys(cls, data: Any) -> Any:
        # A queue's name and an agent's id are their keys; their language defaults to the
        # file's. Works on copies: the caller's data is never changed.
        if not isinstance(data, Mapping):
            return data
        filled = dict(data)
        language = filled.get("language", DEFAULT_LANGUAGE)
        try:
            check_language(language)
        except (ValueError, TypeError):
            language = None  # reported at 'language'; do not spread it into every entry
        for section, key_field, lang_field in (
            ("queues", "name", "language"),
            ("agents", "id", "languages"),
        ):
            entries = filled.get(section)
            if not isinstance(entries, Mapping):
                continue
            copies: dict[Any, Any] = {}
            for key, given in entries.items():
                entry = given
                if isinstance(given, Mapping):
                    entry = {key_field: key, **given}
                    if language is not None and lang_field not in entry:
                        entry[lang_field] = language if lang_field == "language" else [language]
                copies[key] = entry
            filled[section] = copies
        return filled

    @model_validator(mode="after")
    def _cross_check(self) -> Config:
        problems = _cross_problems(self)
        if problems:
            raise CrossCheckError(problems)
        return self

    def queue_thresholds(self, queue: str) -> Thresholds:
        """The wallboard thresholds of ``queue``: its own over ``wallboard.thresholds``.
        Raises ``KeyError`` for an unknown queue."""
        return self.queues[queue].thresholds.resolve(self.wallboard.thresholds)

    def qualified_agents(self, queue: str) -> tuple[str, ...]:
        """Ids of the agents in ``queue`` who meet its skills and language (before any
        escalation), in file order. Raises ``KeyError`` for an unknown queue."""
        settings = self.queues[queue]
        return tuple(
            agent.id
            for agent in self.agents.values()
            if queue in agent.queues
            and settings.language in agent.languages
            and all(agent.skills.get(s, 0) >= level for s, level in settings.skills.items())
        )


def _cross_problems(config: Config) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    languages = set(config.languages)
    if config.language not in languages:
        problems.append((("language",), f"{config.language!r} is not one of languages"))

    def skill_refs(loc: Loc, skills: Mapping[str, int]) -> None:
        for skill in skills:
            if skill not in config.skills:
                problems.append(((*loc, skill), f"skill {skill!r} is not declared under skills"))

    def queue_ref(loc: Loc, name: str) -> None:
        if name not in config.queues:
            problems.append((loc, f"no queue named {name!r}"))

    codes: dict[str, str] = {}
    for key, queue in config.queues.items():
        here: Loc = ("queues", key)
        if queue.name != key:
            problems.append(((*here, "name"), f"must be the key {key!r} (or left out)"))
        if queue.code in codes:
            problems.append(
                (
                    (*here, "code"),
                    f"code {queue.code} is already used by queue {codes[queue.code]!r}",
                )
            )
        codes.setdefault(queue.code, key)
        if queue.language not in languages:
            problems.append(((*here, "language"), f"{queue.language!r} is not one of languages"))
        skill_refs((*here, "skills"), queue.skills)
        if queue.calendar is not None and queue.calendar not in config.calendars:
            problems.append(((*here, "calendar"), f"no calendar named {queue.calendar!r}"))
        problems += rule_problems(config, (*here, "rules"), queue.rules, queue=key)
        for loc, reason in queue.thresholds.problems(config.wallboard.thresholds):
            problems.append(((*here, "thresholds", *loc), reason))
        for index, step in enumerate(queue.escalation):
            step_loc: Loc = (*here, "escalation", index)
            skill_refs((*step_loc, "levels"), step.levels)
            for position, name in enumerate(step.add_queues):
                queue_ref((*step_loc, "add_queues", position), name)
                if name == key:
                    problems.append(((*step_loc, "add_queues", position), "adds its own queue"))

    id_digits = config.feature_codes.id_digits
    pin_span = (config.feature_codes.pin_min_digits, config.feature_codes.pin_max_digits)
    for key, agent in config.agents.items():
        here = ("agents", key)
        if agent.id != key:
            problems.append(((*here, "id"), f"must be the key {key!r} (or left out)"))
        if len(agent.id) != id_digits:
            problems.append(
                ((*here, "id"), f"must have feature_codes.id_digits = {id_digits} digits")
            )
        if agent.pin is not None and not pin_span[0] <= len(agent.pin) <= pin_span[1]:
            problems.append(
                ((*here, "pin"), "length outside feature_codes.pin_min_digits..pin_max_digits")
            )
        skill_refs((*here, "skills"), agent.skills)
        for index, language in enumerate(agent.languages):
            if language not in languages:
                problems.append(
                    ((*here, "languages", index), f"{language!r} is not one of languages")
                )
        for index, name in enumerate(agent.queues):
            queue_ref((*here, "queues", index), name)

    problems += entry_problems(config)
    problems += admin_problems(config)
    seen_tokens: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for index, token in enumerate(config.http.tokens):
        here = ("http", "tokens", index)
        if token.token in seen_tokens:
            problems.append(
                ((*here, "token"), f"the same secret as tokens[{seen_tokens[token.token]}]")
            )
        if token.name in seen_names:
            problems.append(((*here, "name"), f"the same name as tokens[{seen_names[token.name]}]"))
        seen_tokens.setdefault(token.token, index)
        seen_names.setdefault(token.name, index)
    return problems
