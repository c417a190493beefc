"""Which ``filter`` commands a connection needs: the user's filters plus the client's own.

How mod_event_socket applies filters (``event_handler`` in mod_event_socket.c, reproduced by
the simulator): once a listener has any filter, an event is sent only if one of its headers
matches a positive filter (value compared case-insensitively, or as a regex when the value
starts with ``/``) and no negative filter (value starting with ``-``) matches. That applies to
every event, including the ones the client itself depends on: ``BACKGROUND_JOB`` (the result
of every ``bgapi``) and ``HEARTBEAT`` (what keeps the idle watchdog quiet) carry no
``Unique-ID``, so a ``Unique-ID`` filter would hide them and every ``bgapi`` would time out.

:class:`FilterBook` keeps the user's filters and works out the commands that keep the
client's own events flowing:

* while the user has at least one filter, FreeSWITCH also holds the client's own positive
  filters (:func:`own_filters`: ``Event-Name BACKGROUND_JOB``, and ``Event-Name HEARTBEAT``
  when the idle watchdog is on); with the user's last filter they are removed again, so the
  unfiltered stream is not narrowed;
* going from no filter to some, or back, never passes through a state narrower than both
  ends: a catch-all ``Event-Name /.*/`` (every event has an Event-Name) is held for the
  duration of the change;
* ``filter delete <name> <value>`` removes every copy of that pair (``switch_event_del_header_val``:
  name compared case-insensitively, value exactly), so each pair is installed once, whoever
  wants it, and deleted only when nobody does: deleting a user filter that equals one of the
  client's own leaves the client's in place.

:func:`check_filter` refuses what would break this: a negative filter (it could drop the
client's own events whatever positive filters exist), an empty value, and the header names
``add``, ``delete`` and ``all``, which the ``filter`` command reads as keywords
(``filter delete all`` removes every filter).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from acd.errors import ConfigError
from freeswitch.arguments import check_header_name, check_printable
from freeswitch.errors import InvalidArgument

Pair = tuple[str, str]
# How FreeSWITCH identifies a filter for deletion: header name case-insensitively, value exactly.
_Key = tuple[str, str]

BACKGROUND_JOB_FILTER: Pair = ("Event-Name", "BACKGROUND_JOB")
HEARTBEAT_FILTER: Pair = ("Event-Name", "HEARTBEAT")
CATCH_ALL_FILTER: Pair = ("Event-Name", "/.*/")
_KEYWORDS = frozenset({"add", "delete", "all"})
MAX_FILTER_VALUE = 256


def check_filter(
    header: object, value: object, error: type[InvalidArgument | ConfigError] = InvalidArgument
) -> Pair:
    """A user filter ``(header, value)`` that is safe to send; raises ``error`` otherwise
    (:class:`InvalidArgument`, or :class:`ConfigError` for settings) and changes nothing."""
    try:
        name = check_header_name(header, "filter header")
        text = check_printable(value, "filter value", MAX_FILTER_VALUE)
    except InvalidArgument as exc:
        raise error(str(exc)) from None
    if name.lower() in _KEYWORDS:
        raise error(f"filter header: {name!r} is a keyword of the filter command")
    if not text.strip(" +"):
        raise error(f"filter {name}: the value is empty")
    if _negative(text):
        raise error(
            f"filter {name} {text}: negative filters are refused: FreeSWITCH applies them to"
            " every event, so one could hide BACKGROUND_JOB or HEARTBEAT from the client"
        )
    return name, text


def _negative(value: str) -> bool:
    """Whether mod_event_socket reads ``value`` as a negative filter (its leading +, - and
    spaces: the last sign wins)."""
    positive = True
    for char in value:
        if char == "+":
            positive = True
        elif char == "-":
            positive = False
        elif char != " ":
            break
    return not positive


def own_filters(idle_watchdog: bool) -> tuple[Pair, ...]:
    """The filters the client's own machinery needs while any user filter exists."""
    return (BACKGROUND_JOB_FILTER, HEARTBEAT_FILTER) if idle_watchdog else (BACKGROUND_JOB_FILTER,)


def _key(pair: Pair) -> _Key:
    return pair[0].lower(), pair[1]


def _add(pair: Pair) -> str:
    return f"filter {pair[0]} {pair[1]}"


def _delete(pair: Pair) -> str:
    return f"filter delete {pair[0]} {pair[1]}"


class FilterBook:
    """The user's filters and the client's own; sans-IO: methods return command lines
    (without the terminating blank line) for the caller to send, in order."""

    def __init__(self, own: Iterable[Pair], user: Iterable[Pair] = ()) -> None:
        """``own``: the client's filters (:func:`own_filters`); ``user``: checked pairs."""
        self._own: dict[_Key, Pair] = {_key(pair): pair for pair in own}
        self._user: dict[_Key, Pair] = {}
        for pair in user:
            self._user.setdefault(_key(pair), pair)

    @property
    def user(self) -> tuple[Pair, ...]:
        """The user's filters, in the order they were added."""
        return tuple(self._user.values())

    def installed(self) -> tuple[Pair, ...]:
        """What FreeSWITCH holds once the commands so far have run: nothing without a user
        filter, else the client's own filters, then the user's (each pair once)."""
        return tuple(self._installed(self._user).values())

    def _installed(self, user: Mapping[_Key, Pair]) -> dict[_Key, Pair]:
        if not user:
            return {}
        installed = dict(self._own)
        for key, pair in user.items():
            installed.setdefault(key, pair)
        return installed

    def replay(self) -> list[str]:
        """The commands for a new connection (send them before ``event``, so no event is
        ever delivered under a partial filter set)."""
        return [_add(pair) for pair in self.installed()]

    def add(self, pair: Pair) -> list[str]:
        """Record a user filter (a pair from :func:`check_filter`); the commands to send."""
        key = _key(pair)
        if key in self._user:
            return []
        before = self._installed(self._user)
        self._user[key] = pair
        return _transition(before, self._installed(self._user))

    def delete(self, pair: Pair) -> list[str]:
        """Forget a user filter; the commands to send ([] if it was not there)."""
        key = _key(pair)
        if key not in self._user:
            return []
        before = self._installed(self._user)
        del self._user[key]
        return _transition(before, self._installed(self._user))


def _transition(before: Mapping[_Key, Pair], after: Mapping[_Key, Pair]) -> list[str]:
    """Commands that take FreeSWITCH from ``before`` to ``after``: additions first, so the
    set of events passing is never narrower than at both ends, and around a change from no
    filter to some (or back) the catch-all, since the first filter alone would narrow it."""
    catch_all = _key(CATCH_ALL_FILTER)
    bracket = bool(before) != bool(after)
    lines = []
    if bracket and catch_all not in before:
        lines.append(_add(CATCH_ALL_FILTER))
    lines += [
        _add(pair)
        for key, pair in after.items()
        if key not in before and not (bracket and key == catch_all)
    ]
    lines += [
        _delete(pair)
        for key, pair in before.items()
        if key not in after and not (bracket and key == catch_all)
    ]
    if bracket and catch_all not in after:
        lines.append(_delete(CATCH_ALL_FILTER))
    return lines
