"""The simulator's dialplan: where a caller's destination number leads.

The default mirrors the context the recordings were made with (esl-captures/README.md
and ``freeswitch/conf/dialplan/acd.xml``): 7000 sets the support queue's ``acd_*``
variables, answers and parks; 7001 parks the sales caller unanswered (ringback);
``*21``..``*24`` are agent feature codes. The order of the ``set`` steps is the recorded one.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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

SHIPPED_DIALPLAN = Path(__file__).resolve().parent.parent / "conf" / "dialplan" / "acd.xml"


def load_xml_context(path: Path, context: str = "acd") -> tuple[Extension, ...]:
    """The extensions of ``context`` in a FreeSWITCH XML dialplan file: each extension's
    ``destination_number`` condition and its actions, in file order. Only the forms the
    project's own dialplan uses are read (one condition on destination_number per
    extension); anything else raises :class:`SimulatorError`, so the simulator never
    silently differs from the shipped file."""
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - the project's own shipped file
    except (OSError, ET.ParseError) as exc:
        raise SimulatorError(f"dialplan {path}: {exc}") from None
    extensions: list[Extension] = []
    for ctx in root.iter("context"):
        if ctx.get("name") != context:
            continue
        for extension in ctx.iter("extension"):
            conditions = extension.findall("condition")
            if len(conditions) != 1 or conditions[0].get("field") != "destination_number":
                raise SimulatorError(
                    f"dialplan {path}: extension {extension.get('name')!r} needs exactly one"
                    " destination_number condition"
                )
            pattern = conditions[0].get("expression") or ""
            actions = tuple(
                (action.get("application") or "", action.get("data") or "")
                for action in conditions[0].findall("action")
            )
            extensions.append(Extension(pattern, actions))
    if not extensions:
        raise SimulatorError(f"dialplan {path}: no extensions in context {context!r}")
    return tuple(extensions)


# The project's shipped dialplan (freeswitch/conf/dialplan/acd.xml): what the engine meets
# in production, read from the file itself so the two cannot drift apart.
SHIPPED_EXTENSIONS: tuple[Extension, ...] = load_xml_context(SHIPPED_DIALPLAN)


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
