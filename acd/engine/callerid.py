"""Caller numbers and names are hostile input: reduce them to values a command may carry.

A SIP display name can hold anything, including FreeSWITCH dial-string syntax
(``:_:``, ``|``, ``,``, ``{}``, ``${}``) and bytes that are not UTF-8 (kept by the parser as
surrogates). Rather than escape, the engine keeps only what a phone would show: an
unusable value becomes anonymous and the call is still served.
"""

from __future__ import annotations

import re
import unicodedata

ANONYMOUS_NUMBER = "anonymous"
ANONYMOUS_NAME = "Anonymous"
_NUMBER_RE = re.compile(r"\+?[0-9]{1,32}\Z")
_MAX_NAME = 48


def safe_number(raw: str | None) -> str:
    """``+4670...`` digits (an optional leading ``+``), else ``"anonymous"``."""
    if raw is None:
        return ANONYMOUS_NUMBER
    text = raw.strip()
    return text if _NUMBER_RE.match(text) else ANONYMOUS_NUMBER


def safe_name(raw: str | None) -> str:
    """Letters, digits, spaces, ``.``, ``-`` and the typographic apostrophe (an ASCII
    ``'`` becomes U+2019: FreeSWITCH treats quotes as syntax); anything else makes the
    name anonymous rather than silently altered into something else."""
    if raw is None:
        return ANONYMOUS_NAME
    text = unicodedata.normalize("NFC", raw.strip()).replace("'", "\u2019")
    if not text or len(text) > _MAX_NAME:
        return ANONYMOUS_NAME
    for char in text:
        if char in " .-\u2019":
            continue
        category = unicodedata.category(char)
        if category[0] not in "LN":  # letters and numbers only; no marks, symbols, controls
            return ANONYMOUS_NAME
    if "  " in text:
        return ANONYMOUS_NAME
    return text
