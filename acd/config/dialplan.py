"""What the shipped dialplan's ``acd`` context routes (freeswitch/conf/dialplan/acd.xml),
read from the file itself so a check and the file cannot drift apart: a menu's
``transfer`` into that context must name one of its extensions."""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import freeswitch

SHIPPED_DIALPLAN = Path(freeswitch.__file__).resolve().parent / "conf" / "dialplan" / "acd.xml"
ROUTES = (
    "7000-7002 (queues), 7100-7199 (entries), the feature codes, acd-forward-<number>,"
    " acd-voicemail-<box>"
)
"""The shipped ``acd`` context's extensions, for people."""


@functools.cache
def shipped_patterns(path: Path = SHIPPED_DIALPLAN, context: str = "acd") -> tuple[str, ...]:
    """The ``destination_number`` expressions of ``context`` in ``path``, in file order;
    () when the file cannot be read (an installation without it: nothing to check)."""
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - the project's own shipped file
    except (OSError, ET.ParseError):
        return ()
    return tuple(
        condition.get("expression") or ""
        for ctx in root.iter("context")
        if ctx.get("name") == context
        for condition in ctx.iter("condition")
        if condition.get("field") == "destination_number"
    )


def routes(extension: str) -> bool | None:
    """Whether the shipped ``acd`` context has an extension for ``extension``; None when
    the shipped file is not there to tell."""
    patterns = shipped_patterns()
    if not patterns:
        return None
    return any(re.search(pattern, extension) for pattern in patterns)
