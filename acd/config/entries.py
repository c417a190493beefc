"""Entries and menus (R-WELCOME, R-DTMF): what a caller of an entry number hears and
chooses before a queue.

.. code-block:: yaml

    entries:
      kundtjanst: {number: "7100", language: sv, welcome: welcome, menu: main}
    menus:
      main:
        prompt: menu_main          # a prompt id (acd prompts import / the shipped set)
        interruptible: true        # false: digits pressed while it plays are ignored
        digits: 1                  # the longest choice; input ends at this length or
        inter_digit_timeout: 3     # this many seconds after the last digit
        timeout: 5                 # seconds to wait for the first digit
        retries: 2                 # no input / invalid input asked again this many times
        no_input: menu_no_input    # played before asking again (optional)
        invalid: menu_invalid      # likewise after a key that is no choice (optional)
        default: {queue: general}  # after the retries
        choices:
          "1": {queue: billing, case_type: invoice, skills: {billing: 2}, priority: 0}
          "2": {menu: permits}
          "3": {message: opening_hours, then: repeat}    # hangup | repeat | menu:<name>
          "9": {transfer: "7001"}                        # an extension of the acd context

Every reference is checked against the rest of the file (queues, skills, menus,
languages), choice keys fit ``digits``, and following the defaults from any menu ends
outside the menus: a caller who keys nothing is never passed round forever.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from acd.config.dialplan import ROUTES, routes
from acd.config.problems import CrossCheckError, Loc
from acd.config.rules import Rules, RuleSettings, compile_rules, rule_problems
from acd.config.types import (
    Frozen,
    FrozenMap,
    Language,
    Name,
    Priority,
    PromptId,
    QuotedNumber,
    TextDigits,
)
from acd.config.types import Level as SkillLevel
from acd.engine.menus import (
    EntryPlan,
    MenuBook,
    MenuPlan,
    MenuTarget,
    MessageTarget,
    PromptResolver,
    QueueTarget,
    Target,
    TransferTarget,
    shipped_prompt,
)
from acd.engine.rules import FIGURES
from freeswitch.arguments import check_extension, check_token
from freeswitch.errors import InvalidArgument

if TYPE_CHECKING:
    from acd.config.model import Config

_KEY_RE = re.compile(r"[0-9*#]{1,16}")
_NUMBER_RE = re.compile(r"[0-9*#+]{1,32}")
_THEN_RE = re.compile(r"hangup|repeat|menu:(.+)")


def _key(value: str) -> str:
    if _KEY_RE.fullmatch(value) is None:
        raise ValueError("a choice is 1-16 keys of 0-9 * #")
    return value


def _number(value: str) -> str:
    if _NUMBER_RE.fullmatch(value) is None:
        raise ValueError("an entry number is 1-32 of 0-9 * # +")
    return value


def _extension(value: str) -> str:
    try:
        return check_extension(value, "transfer")
    except InvalidArgument:
        raise ValueError("an extension is letters, digits and * # + _ . -") from None


def _context(value: str) -> str:
    try:
        return check_token(value, "context")
    except InvalidArgument:
        raise ValueError("a dialplan context is one word of letters, digits, _ . -") from None


def _then(value: str) -> str:
    if _THEN_RE.fullmatch(value) is None:
        raise ValueError("must be hangup, repeat or menu:<name>")
    return value


ChoiceKey = Annotated[str, TextDigits, AfterValidator(_key)]
EntryNumber = Annotated[str, QuotedNumber, AfterValidator(_number)]
Extension = Annotated[str, QuotedNumber, AfterValidator(_extension)]
Then = Annotated[str, AfterValidator(_then)]

_KINDS = ("queue", "menu", "message", "transfer")
_ONLY: Mapping[str, tuple[str, ...]] = {
    "case_type": ("queue",),
    "skills": ("queue",),
    "priority": ("queue",),
    "then": ("message",),
    "context": ("transfer",),
}


class ChoiceSettings(Frozen):
    """Where a choice leads: exactly one of ``queue`` (with ``case_type``, ``skills``,
    ``priority``), ``menu``, ``message`` (with ``then``) or ``transfer`` (with
    ``context``, default ``acd``)."""

    queue: Name | None = None
    case_type: Name | None = None
    """Carried to the agent, the queue log and the announcements (R-EWT per case type)."""
    skills: FrozenMap[Name, SkillLevel] = Field(default_factory=dict)
    """``{skill: minimum level}`` this caller needs, over the queue's own."""
    priority: Priority = 0
    menu: Name | None = None
    message: PromptId | None = None
    then: Then = "hangup"
    """After the message: ``hangup``, ``repeat`` (this menu again) or ``menu:<name>``."""
    transfer: Extension | None = None
    """An extension of the dialplan ``context`` (FreeSWITCH ``uuid_transfer``)."""
    context: Annotated[str, AfterValidator(_context)] = "acd"

    @model_validator(mode="after")
    def _one_kind(self) -> ChoiceSettings:
        kinds = [k for k in _KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            named = ", ".join(kinds) if kinds else "none"
            raise ValueError(f"give exactly one of queue, menu, message, transfer (got {named})")
        problems: list[tuple[Loc, str]] = []
        for name, owners in _ONLY.items():
            # Given = not its default (a dumped configuration spells every default out).
            given = getattr(self, name) != type(self).model_fields[name].get_default(
                call_default_factory=True
            )
            if given and kinds[0] not in owners:
                problems.append(((name,), f"only goes with {' or '.join(owners)}"))
        if (
            self.transfer is not None
            and "context" not in self.model_fields_set  # `context: acd` named: own extension
            and routes(self.transfer) is False
        ):
            problems.append(
                (
                    ("transfer",),
                    f"{self.transfer!r} is no extension of the acd context (it routes {ROUTES}):"
                    f' to dial a number outside, transfer to "acd-forward-<number>"; for an'
                    " extension of your own dialplan, name its context (context: default)",
                )
            )
        if problems:
            raise CrossCheckError(problems)
        return self

    def target(self) -> Target:
        """The engine's view of this choice."""
        if self.queue is not None:
            return QueueTarget(self.queue, self.case_type, dict(self.skills), self.priority)
        if self.menu is not None:
            return MenuTarget(self.menu)
        if self.message is not None:
            if self.then.startswith("menu:"):
                return MessageTarget(self.message, "menu", self.then[5:])
            if self.then == "repeat":
                return MessageTarget(self.message, "repeat")
            return MessageTarget(self.message, "hangup")
        assert self.transfer is not None
        return TransferTarget(self.transfer, self.context)

    def next_menu(self, here: str) -> str | None:
        """The menu this choice leads to (``here`` for a repeat), or None."""
        if self.menu is not None:
            return self.menu
        if self.message is not None and self.then == "repeat":
            return here
        if self.message is not None and self.then.startswith("menu:"):
            return self.then[5:]
        return None


class MenuSettings(Frozen):
    """One menu. Times in seconds."""

    prompt: PromptId
    """A prompt id (:mod:`acd.prompts`), played in the caller's language."""
    interruptible: bool = True
    """False: the prompt plays to its end; digits pressed meanwhile are ignored."""
    digits: int = Field(default=1, ge=1, le=16)
    """The number of keys of the longest choice: input ends at this length."""
    inter_digit_timeout: float = Field(default=3.0, ge=0.5, le=30.0)
    """Input shorter than ``digits`` ends this many seconds after its last key."""
    timeout: float = Field(default=5.0, ge=1.0, le=120.0)
    """Seconds after the prompt to wait for the first key, with hold music (whole clips
    of 2.56 s, then FreeSWITCH's last second: rounded up)."""
    retries: int = Field(default=2, ge=0, le=10)
    """How many times no input or invalid input is asked again before ``default``."""
    no_input: PromptId | None = None
    """Played before asking again after no input (a prompt id)."""
    invalid: PromptId | None = None
    """Played before asking again after a key that is no choice (a prompt id)."""
    default: ChoiceSettings
    """Where the caller goes after the retries."""
    choices: FrozenMap[ChoiceKey, ChoiceSettings] = Field(min_length=1)

    def plan(self, name: str) -> MenuPlan:
        return MenuPlan(
            name=name,
            prompt=self.prompt,
            choices={key: choice.target() for key, choice in self.choices.items()},
            default=self.default.target(),
            interruptible=self.interruptible,
            digits=self.digits,
            inter_digit_timeout=self.inter_digit_timeout,
            timeout=self.timeout,
            retries=self.retries,
            no_input=self.no_input,
            invalid=self.invalid,
        )


class EntrySettings(Frozen):
    """An entry number: the dialplan parks its callers with ``acd_entry=<name>`` or
    ``acd_entry_number=<number>``."""

    number: EntryNumber
    language: Language | None = None
    """The callers' language (prompts, agents); null: the file's ``language``."""
    welcome: PromptId | None = None
    """Played first, not interruptible (R-WELCOME)."""
    menu: Name
    calendar: Name | None = None
    """The opening hours that apply (``calendars``), if any."""
    rules: Rules = ()
    """Ordered rules tried once when a caller arrives, before the welcome (R-RULES;
    :func:`entry_rule_problems` says what an entry's rule may do)."""


def entry_problems(config: Config) -> list[tuple[Loc, str]]:
    """Problems across sections: references, key lengths, loops of defaults."""
    problems: list[tuple[Loc, str]] = []
    menus: Mapping[str, MenuSettings] = config.menus
    numbers: dict[str, str] = {}
    calendars: Any = getattr(config, "calendars", None)
    for name, entry in config.entries.items():
        here: Loc = ("entries", name)
        if entry.number in numbers:
            problems.append(
                ((*here, "number"), f"already the number of entry {numbers[entry.number]!r}")
            )
        numbers.setdefault(entry.number, name)
        if entry.menu not in menus:
            problems.append(((*here, "menu"), f"no menu named {entry.menu!r}"))
        if entry.language is not None and entry.language not in config.languages:
            problems.append(((*here, "language"), f"{entry.language!r} is not one of languages"))
        if entry.calendar is not None and (
            not isinstance(calendars, Mapping) or entry.calendar not in calendars
        ):
            problems.append(((*here, "calendar"), f"no calendar named {entry.calendar!r}"))
        rules_at: Loc = (*here, "rules")
        problems += rule_problems(
            config, rules_at, entry.rules, queue=None, calendar=entry.calendar
        )
        problems += entry_rule_problems(rules_at, entry.rules)
    for name, menu in menus.items():
        here = ("menus", name)
        longest = max(len(key) for key in menu.choices)
        if longest != menu.digits:
            problems.append(
                (
                    (*here, "digits"),
                    f"is {menu.digits} but the longest choice has {longest} keys"
                    " (input ends at 'digits' keys or after inter_digit_timeout)",
                )
            )
        for key, choice in menu.choices.items():
            problems += _choice_problems(config, (*here, "choices", key), choice, name)
        problems += _choice_problems(config, (*here, "default"), menu.default, name)
    problems += _default_loops(menus)
    return problems


def entry_rule_problems(loc: Loc, rules: Sequence[RuleSettings]) -> list[tuple[Loc, str]]:
    """What an entry's rule may not do: its caller is in no queue yet, and its rules are
    tried once, on arrival. So no ``after`` (no waiting yet), no conditions on a queue's
    figures (put them on that queue's rules), no ``overflow`` (``queue: {queue: <name>}``
    sends the caller to a queue), and a ``queue`` action names the queue to join."""
    problems: list[tuple[Loc, str]] = []
    for index, rule in enumerate(rules):
        here: Loc = (*loc, index)
        if rule.after > 0:
            problems.append(
                ((*here, "after"), "an entry's rules are tried once, when the caller arrives")
            )
        for figure in FIGURES:
            if getattr(rule.when, figure) is not None:
                problems.append(
                    (
                        (*here, "when", figure),
                        "an entry's caller is in no queue yet: conditions on a queue's"
                        " figures go in that queue's rules",
                    )
                )
        if rule.then.overflow is not None:
            problems.append(
                (
                    (*here, "then", "overflow"),
                    "an entry's caller is in no queue yet, so there is no place to keep:"
                    " use queue: {queue: <name>} to send it to a queue",
                )
            )
        if rule.then.queue is not None and rule.then.queue.queue is None:
            problems.append(
                (
                    (*here, "then", "queue"),
                    "an entry's queue rule names the queue to join: queue: {queue: <name>}",
                )
            )
    return problems


def _choice_problems(
    config: Config, loc: Loc, choice: ChoiceSettings, here: str
) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    if choice.queue is not None and choice.queue not in config.queues:
        problems.append(((*loc, "queue"), f"no queue named {choice.queue!r}"))
    for skill in choice.skills:
        if skill not in config.skills:
            problems.append(
                ((*loc, "skills", skill), f"skill {skill!r} is not declared under skills")
            )
    following = choice.next_menu(here)
    if following is not None and following not in config.menus:
        field = "menu" if choice.menu is not None else "then"
        problems.append(((*loc, field), f"no menu named {following!r}"))
    return problems


def _default_loops(menus: Mapping[str, MenuSettings]) -> list[tuple[Loc, str]]:
    """A caller who keys nothing follows the defaults; they must leave the menus."""
    problems: list[tuple[Loc, str]] = []
    reported: set[str] = set()
    for start in menus:
        path = [start]
        current = start
        while True:
            following = menus[current].default.next_menu(current)
            if following is None or following not in menus:
                break
            if following in path:
                loop = path[path.index(following) :]
                if not reported.intersection(loop):
                    reported.update(loop)
                    shown = " -> ".join([*loop, following])
                    problems.append(
                        (
                            ("menus", loop[0], "default"),
                            f"a caller who keys nothing goes round {shown} forever; one"
                            " default on the way must end in a queue, a transfer or a"
                            " message that hangs up",
                        )
                    )
                break
            path.append(following)
            current = following
    return problems


def entry_rule_owner(entry: str) -> str:
    """The owner part of an entry's rule ids (``entry:kundtjanst#1``), apart from queues'."""
    return f"entry:{entry}"


def menu_book(config: Config, prompt: PromptResolver = shipped_prompt) -> MenuBook:
    """The engine's view of ``entries`` and ``menus`` (language defaults to the file's);
    ``prompt`` resolves prompt ids (the prompt catalogue, :mod:`acd.prompts`)."""
    entries = {
        name: EntryPlan(
            name=name,
            number=entry.number,
            menu=entry.menu,
            language=entry.language or config.language,
            welcome=entry.welcome,
            rules=compile_rules(entry_rule_owner(name), entry.rules, calendar=entry.calendar),
        )
        for name, entry in config.entries.items()
    }
    return MenuBook(
        entries=entries,
        menus={name: menu.plan(name) for name, menu in config.menus.items()},
        by_number={entry.number: name for name, entry in entries.items()},
        prompt=prompt,
        language=config.language,
    )
