"""Loading the byte-exact Event Socket recordings of a real FreeSWITCH 1.10.12.

Each recording ``NAME`` has ``NAME.in`` (every byte FreeSWITCH sent, in order) and
``NAME.jsonl`` (the whole conversation: one ``{"t", "dir", "data"}`` object per socket read or
write; ``"b64"`` instead of ``"data"`` for bytes that are not UTF-8). The large recording is
stored gzipped (``NAME.in.gz`` / ``NAME.jsonl.gz``); both forms load the same way here.

The recordings live in the repository, in ``tests/esl-captures/`` (with their README), so a
clone tests with nothing beside it; nothing here looks anywhere else.
"""

from __future__ import annotations

import base64
import gzip
import json
from functools import cache
from pathlib import Path
from typing import Literal, TypedDict

RECORDINGS = (
    "s01a_preauth_and_bad_password",
    "s01b_auth_ok_exit",
    "s02_commands_and_errors",
    "s03_caller_journey_plain",
    "s04_caller_journey_json",
    "s05_agent_leg_failures",
    "s06_dtmf_digits_and_hangups",
    "s07_reconcile_snapshot",
    "s08_bulk_acd_traffic",
    "s09_freeswitch_shutdown",
    "s09b_after_restart",
)

_FOLDER = Path(__file__).resolve().parent / "esl-captures"


class Turn(TypedDict):
    """One socket read (``dir == "in"``) or write (``"out"``), ``t`` ms after connect."""

    t: float
    dir: Literal["in", "out"]
    data: str


def captures_dir() -> Path:
    """``tests/esl-captures``; :class:`FileNotFoundError` if the checkout lacks it."""
    if not _FOLDER.is_dir():
        raise FileNotFoundError(f"ESL recordings not found: {_FOLDER} is missing from the checkout")
    return _FOLDER


def _read(name: str, suffix: str) -> bytes:
    folder = captures_dir()
    plain = folder / f"{name}{suffix}"
    if plain.exists():
        return plain.read_bytes()
    packed = folder / f"{name}{suffix}.gz"
    if packed.exists():
        return gzip.decompress(packed.read_bytes())
    raise FileNotFoundError(f"no recording {plain} (nor {packed.name})")


@cache
def load_in(name: str) -> bytes:
    """Every byte FreeSWITCH sent in recording ``name``."""
    return _read(name, ".in")


@cache
def load_conversation(name: str) -> tuple[Turn, ...]:
    """The recording's conversation, in order; ``data`` is text (b64 records are decoded)."""
    turns: list[Turn] = []
    for line in _read(name, ".jsonl").decode("utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if "data" in record:
            data = record["data"]
        else:
            data = base64.b64decode(record["b64"]).decode("utf-8", errors="surrogateescape")
        turns.append(Turn(t=float(record["t"]), dir=record["dir"], data=data))
    return tuple(turns)


def sent_commands(name: str) -> list[str]:
    """Every command the client wrote (each ends with a blank line on the wire)."""
    written = "".join(turn["data"] for turn in load_conversation(name) if turn["dir"] == "out")
    return [command for command in written.split("\n\n") if command.strip()]


def received_text(name: str) -> str:
    """Everything the client read, joined, from the conversation record."""
    return "".join(turn["data"] for turn in load_conversation(name) if turn["dir"] == "in")
