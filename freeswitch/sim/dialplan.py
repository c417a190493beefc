"""The simulator's dialplan: where a caller's destination number leads.

The default mirrors the context the recordings were made with (esl-captures/README.md
and ``freeswitch/conf/dialplan/acd.xml``): 7000 sets the support queue's ``acd_*``
variables, answers and parks; 7001 parks the sales caller unanswered (ringback);
``*21``..``*24`` are agent feature codes. The order of the ``set`` steps is the recorded one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from freeswitch.sim.errors import SimulatorError

Action = tuple[str, str]


@dataclass(frozen=True)
class Extension:
    """A destination pattern and its actions; ``$1``.. in data are regex groups."""

    pattern: str
    actions: tuple[Action, ...]

    def __post_init__(self) -> None:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise SimulatorError(f"bad dialplan pattern {self.pattern!r}: {exc}") from None


DEFAULT_EXTENSIONS: tuple[Extension, ...] = (
    Extension(
        r"^7000$",
        (
            ("set", "acd_queue=support"),
            ("set", "acd_language=sv"),
            ("set", "acd_skills=billing:3,invoice:1"),
            ("set", "acd_case_type=invoice"),
            ("set", "sound_prefix=/srv/fsdemo/sounds/sv/se/jakob"),
            ("set", "default_language=sv"),
            ("answer", ""),
            ("park", ""),
        ),
    ),
    Extension(r"^7001$", (("set", "acd_queue=sales"), ("set", "acd_language=en"), ("park", ""))),
    Extension(
        r"^\*2([1-4])(\d*)$",
        (("set", "acd_action=$1"), ("set", "acd_action_arg=$2"), ("answer", ""), ("park", "")),
    ),
)

# The project's shipped dialplan (freeswitch/conf/dialplan/acd.xml): what the engine meets
# in production. Feature codes park with acd_action as a word and the phone's number.
SHIPPED_EXTENSIONS: tuple[Extension, ...] = (
    Extension(
        r"^7000$",
        (
            ("set", "acd_queue=support"),
            ("set", "acd_language=sv"),
            ("set", "acd_skills=billing:1"),
            ("set", "default_language=sv"),
            ("answer", ""),
            ("park", ""),
        ),
    ),
    Extension(
        r"^7001$",
        (
            ("set", "acd_queue=sales"),
            ("set", "acd_language=en"),
            ("set", "default_language=en"),
            ("park", ""),
        ),
    ),
    Extension(
        r"^7002$",
        (
            ("set", "acd_queue=support"),
            ("set", "acd_language=sv"),
            ("set", "acd_skills=billing:1"),
            ("set", "acd_priority=5"),
            ("set", "default_language=sv"),
            ("answer", ""),
            ("park", ""),
        ),
    ),
    *(
        Extension(
            rf"^\*2{digit}(\d*)$",
            (
                ("set", f"acd_action={action}"),
                ("set", "acd_action_arg=$1"),
                ("set", "acd_phone=${caller_id_number}"),
                ("set", "default_language=sv"),
                ("answer", ""),
                ("park", ""),
            ),
        )
        for digit, action in (("1", "login"), ("2", "logout"), ("3", "pause"), ("4", "unpause"))
    ),
)


class Dialplan:
    """First matching extension wins, as in an XML context."""

    def __init__(self, extensions: Sequence[Extension] = DEFAULT_EXTENSIONS) -> None:
        self.extensions = list(extensions)

    def route(self, destination: str) -> list[Action] | None:
        for extension in self.extensions:
            match = re.search(extension.pattern, destination)
            if match is None:
                continue
            groups = match.groups()

            def expand(data: str, groups: tuple[str | None, ...] = groups) -> str:
                return re.sub(
                    r"\$(\d)",
                    lambda m: (
                        (groups[int(m.group(1)) - 1] or "")
                        if 0 < int(m.group(1)) <= len(groups)
                        else ""
                    ),
                    data,
                )

            return [(app, expand(data)) for app, data in extension.actions]
        return None


def explicit_actions(variables: dict[str, str], answered: bool) -> list[Action]:
    """The actions for a call placed with explicit variables instead of the dialplan."""
    actions: list[Action] = [("set", f"{name}={value}") for name, value in variables.items()]
    if answered:
        actions.append(("answer", ""))
    actions.append(("park", ""))
    return actions
