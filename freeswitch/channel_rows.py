"""Typed rows of ``show channels as json``: what an engine reconciles against after a
(re)connect (esl-captures s07, s09b)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from freeswitch.errors import CommandFailed, ProtocolError


@dataclass(frozen=True, slots=True)
class ChannelRow:
    """One channel. Empty strings from FreeSWITCH stay empty strings; ``raw`` keeps every
    column, including ones this class does not name.

    FreeSWITCH copies channel data into this JSON byte for byte without checking it is UTF-8
    (a SIP display name can hold any byte), so a value may carry lone surrogates: the bytes
    that were not UTF-8, kept by ``surrogateescape`` (``"1000\\udcf1"`` for ``1000\\xf1``).
    The command builders refuse such values; ``value.encode("utf-8", "surrogateescape")``
    gives the original bytes back."""

    uuid: str
    direction: str
    name: str
    state: str
    callstate: str
    cid_name: str
    cid_num: str
    dest: str
    application: str
    application_data: str
    context: str
    created_epoch: int | None
    call_uuid: str
    presence_id: str
    hostname: str
    raw: Mapping[str, str]

    @property
    def parked(self) -> bool:
        return self.application == "park"

    @property
    def answered(self) -> bool:
        return self.callstate in ("ACTIVE", "HELD", "UNHOLD")


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def parse_show_channels(text: str | bytes) -> list[ChannelRow]:
    """Parse the body of ``show channels as json`` (``ApiResponse.text``, or its raw bytes).

    ``{"row_count": 0}`` (no ``rows`` key, recorded in s02/s09b) gives ``[]``; an
    ``-ERR`` answer raises :class:`CommandFailed`; anything else malformed raises
    :class:`ProtocolError` with the offset of the problem in ``text``. Bytes that are not
    UTF-8 are never an error: each value keeps them as surrogates (see :class:`ChannelRow`).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    stripped = text.strip()
    if stripped.startswith("-ERR"):
        raise CommandFailed(stripped)
    try:
        document = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"show channels: invalid JSON: {exc.msg}", exc.pos) from None
    except (ValueError, RecursionError) as exc:  # a 5,000-digit number, deep nesting
        raise ProtocolError(f"show channels: not a channel list: {str(exc)[:80]}", 0) from None
    if not isinstance(document, dict) or not isinstance(document.get("row_count"), int):
        raise ProtocolError("show channels: no row_count in the answer", 0)
    rows = document.get("rows", [])
    if not isinstance(rows, list) or len(rows) != document["row_count"]:
        raise ProtocolError("show channels: rows do not match row_count", 0)
    result: list[ChannelRow] = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("uuid"), str) or not row["uuid"]:
            raise ProtocolError(f"show channels: row {index} has no uuid", 0)
        values = {str(k): "" if v is None else str(v) for k, v in row.items()}
        result.append(
            ChannelRow(
                uuid=values["uuid"],
                direction=values.get("direction", ""),
                name=values.get("name", ""),
                state=values.get("state", ""),
                callstate=values.get("callstate", ""),
                cid_name=values.get("cid_name", ""),
                cid_num=values.get("cid_num", ""),
                dest=values.get("dest", ""),
                application=values.get("application", ""),
                application_data=values.get("application_data", ""),
                context=values.get("context", ""),
                created_epoch=_int_or_none(values.get("created_epoch", "")),
                call_uuid=values.get("call_uuid", ""),
                presence_id=values.get("presence_id", ""),
                hostname=values.get("hostname", ""),
                raw=MappingProxyType(values),
            )
        )
    return result
