"""Reading a configuration file or text into a :class:`~acd.config.model.Config`."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from acd.config.model import Config
from acd.config.problems import ConfigProblem, InvalidConfigError, problems_from
from acd.config.yamlfile import read_yaml

MAX_FILE_BYTES = 16 * 1024 * 1024
"""Larger files are refused before parsing (2,000 agents take about 400 KB)."""


def parse_config(text: str, source: str = "<string>") -> Config:
    """The configuration in YAML ``text``; ``source`` names it in messages.

    Raises :class:`acd.config.InvalidConfigError` (a :class:`~acd.errors.ConfigError`) listing
    every problem with its path, line and reason. Problems within values are all found
    in one pass; the checks across sections (undeclared skills, unknown queues,
    duplicate codes) run once every value is valid.
    """
    if not isinstance(text, str):
        raise InvalidConfigError(source, [ConfigProblem("", "configuration text must be a str")])
    if len(text) > MAX_FILE_BYTES:
        raise InvalidConfigError(source, [ConfigProblem("", f"larger than {MAX_FILE_BYTES} bytes")])
    data, lines = read_yaml(text, source)
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        raise InvalidConfigError(source, problems_from(error, lines, Config)) from None


def load_config(path: str | Path) -> Config:
    """The configuration in the UTF-8 YAML file at ``path``.

    Raises :class:`acd.config.InvalidConfigError` naming the file when it cannot be read or is
    not valid (see :func:`parse_config`).
    """
    source = str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        reason = f"cannot read: {error.strerror or error}"
        raise InvalidConfigError(source, [ConfigProblem("", reason)]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise InvalidConfigError(source, [ConfigProblem("", f"larger than {MAX_FILE_BYTES} bytes")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise InvalidConfigError(source, [ConfigProblem("", "not UTF-8 text", line)]) from None
    return parse_config(text, source)
