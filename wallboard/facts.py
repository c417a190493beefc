"""The engine's facts as the supervision figures count them: one fold shared by the
metrics (:mod:`wallboard.metrics`), the wallboard's engine source
(:mod:`wallboard.engine_source`) and the reports (:mod:`wallboard.report`).

Entries of the events stream ``acd:{tenant}:events`` (docs/ENGINE.md, "The events
stream") have the fields ``k`` (the fact's kind), ``t`` (epoch seconds) and ``d`` (msgpack
of its data); :func:`decode_entry` reads one.

:class:`FactFold` turns a fact into what it adds to one queue's figures (:class:`Counted`):

- **offered**: a call entering the queue: ``queued``, or ``transferred`` into it (also
  ``transferred_in``), or ``adopted`` by a restarted engine only when the call is new to
  the queue. The engine follows an ``adopted`` with the call's ``queued``, and a call the
  dead engine had queued may have its ``queued`` in the stream already: a ``queued`` or
  ``adopted`` of a call that last entered this very queue is not counted again. A call
  transferred on counts as offered in each queue it enters.
- **answered**: ``bridged`` (caller and agent talking), with its ``wait`` (seconds) and
  whether it was within the queue's target (:mod:`wallboard.service_level`);
- **abandoned**: ``abandoned``, with its ``wait`` and whether it was a short abandon;
- **completed**: ``completed`` with its ``handle`` (seconds, bridge to hang-up).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgpack

from routing.keys import prefix
from wallboard.service_level import DEFAULT_RULE, ServiceLevelTarget

OFFERING: Final = frozenset({"queued", "adopted", "transferred"})
COUNTED: Final = OFFERING | {"bridged", "abandoned", "completed"}
#: Most calls whose queue :class:`FactFold` remembers (memory bound of a long-running fold).
MAX_REMEMBERED: Final = 100_000

Kind = Literal["offered", "answered", "abandoned", "completed"]


@dataclass(frozen=True, slots=True)
class FactEntry:
    """One entry of the events stream: ``kind``, ``at`` (epoch seconds) and ``data``."""

    kind: str
    at: float
    data: Mapping[str, Any]


def events_key(tenant: str) -> str:
    """The events stream of ``tenant`` (``acd:{tenant}:events``, braces included)."""
    return prefix(tenant) + "events"


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def decode_entry(fields: Mapping[Any, Any]) -> FactEntry | None:
    """The fact of one stream entry (field names as bytes or str), or None when it is not
    in the documented shape."""
    values = {_text(k): v for k, v in fields.items()}
    try:
        kind = _text(values["k"])
        at = float(_text(values["t"]))
        data = msgpack.unpackb(values["d"], raw=False) if "d" in values else {}
    except (KeyError, ValueError, TypeError, UnicodeDecodeError, msgpack.UnpackException):
        return None
    if not isinstance(data, dict) or not math.isfinite(at):
        return None
    return FactEntry(kind, at, data)


@dataclass(frozen=True, slots=True)
class Counted:
    """What one fact adds to ``queue``'s figures (see the module docstring): ``wait`` for
    answered and abandoned calls, ``handle`` for completed ones (seconds)."""

    queue: str
    kind: Kind
    contact: str | None = None
    agent: str | None = None
    transferred_in: bool = False
    wait: float = 0.0
    within_target: bool = False
    short: bool = False
    handle: float = 0.0


def number(data: Mapping[str, Any], name: str) -> float:
    """``data[name]`` as finite seconds (negatives read as 0); ``ValueError`` otherwise."""
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"fact {name!r} is not a number of seconds: {dict(data)!r}")
    return max(0.0, float(value))


def text(data: Mapping[str, Any], name: str) -> str:
    """``data[name]`` as a non-empty string; ``ValueError`` otherwise."""
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"fact without a {name!r}: {dict(data)!r}")
    return value


class FactFold:
    """The fold of facts into queue figures. ``targets``: queue -> its service-level rule
    (``default`` for the others). Remembers the queue each call last entered (at most
    :data:`MAX_REMEMBERED` calls, forgotten when the call ends) to count offers once."""

    def __init__(
        self,
        targets: Mapping[str, ServiceLevelTarget] | None = None,
        default: ServiceLevelTarget = DEFAULT_RULE,
    ) -> None:
        self.targets = dict(targets or {})
        self.default = default
        self._entered: OrderedDict[str, str] = OrderedDict()

    def target(self, queue: str) -> ServiceLevelTarget:
        """``queue``'s service-level rule."""
        return self.targets.get(queue, self.default)

    def count(self, kind: str, data: Mapping[str, Any]) -> Counted | None:
        """What the fact ``kind``/``data`` adds to its queue, or None when it adds nothing
        (another kind, or an offer already counted). Raises ``ValueError`` when a counted
        fact lacks a field it needs (``queue``, ``contact`` of an offer, ``wait``,
        ``handle``)."""
        if kind not in COUNTED:
            return None
        queue = text(data, "queue")
        contact = data.get("contact") if isinstance(data.get("contact"), str) else None
        agent = data.get("agent") if isinstance(data.get("agent"), str) else None
        if kind in OFFERING:
            contact = text(data, "contact")
            again = self._entered.get(contact) == queue
            self._enter(contact, queue)
            if kind != "transferred" and again:
                return None  # the same arrival seen twice (adopted, then queued)
            return Counted(queue, "offered", contact, transferred_in=kind == "transferred")
        if kind == "bridged":
            wait = number(data, "wait")
            within = self.target(queue).within(wait)
            return Counted(queue, "answered", contact, agent, wait=wait, within_target=within)
        if kind == "abandoned":
            wait = number(data, "wait")
            if contact is not None:
                self._entered.pop(contact, None)
            return Counted(
                queue, "abandoned", contact, wait=wait, short=self.target(queue).short(wait)
            )
        handle = number(data, "handle")  # completed
        if contact is not None:
            self._entered.pop(contact, None)
        return Counted(queue, "completed", contact, agent, handle=handle)

    def seen(self, kind: str, data: Mapping[str, Any]) -> None:
        """Note the queue an offer entered without counting it (a fact before the counted
        period, or of a queue not reported), so its duplicate is not counted later."""
        contact, queue = data.get("contact"), data.get("queue")
        if kind in OFFERING and isinstance(contact, str) and isinstance(queue, str):
            self._enter(contact, queue)

    def _enter(self, contact: str, queue: str) -> None:
        self._entered[contact] = queue
        self._entered.move_to_end(contact)
        while len(self._entered) > MAX_REMEMBERED:
            self._entered.popitem(last=False)
