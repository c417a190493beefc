"""The engine's configuration: one YAML file validated into frozen typed objects.

``load_config(path)`` / ``parse_config(text)`` return a :class:`Config` or raise
:class:`InvalidConfigError` (an :class:`acd.errors.ConfigError`) whose message names the file,
each problem's path (``queues.support.wrap_up_seconds``), its line and the reason.
``default_config()`` is the embedded configuration ``acd demo`` runs on. The format is
shown, with comments, in ``examples/acd.yaml``.
"""

from __future__ import annotations

from acd.config.agents import AgentSettings, FeatureCodeSettings
from acd.config.defaults import default_config
from acd.config.endpoints import ApiToken, EslSettings, HttpSettings, RedisSettings, Role
from acd.config.loading import load_config, parse_config
from acd.config.model import Config
from acd.config.problems import ConfigProblem, InvalidConfigError
from acd.config.queues import (
    RESERVATION_MARGIN,
    AhtSettings,
    AnnouncementSettings,
    EscalationSettings,
    NoAnswerSettings,
    PassiveSettings,
    QueueSettings,
    SoundSettings,
)
from acd.engine.policy import hash_pin

__all__ = [
    "RESERVATION_MARGIN",
    "AgentSettings",
    "AhtSettings",
    "AnnouncementSettings",
    "ApiToken",
    "Config",
    "ConfigProblem",
    "EscalationSettings",
    "EslSettings",
    "FeatureCodeSettings",
    "HttpSettings",
    "InvalidConfigError",
    "NoAnswerSettings",
    "PassiveSettings",
    "QueueSettings",
    "RedisSettings",
    "Role",
    "SoundSettings",
    "default_config",
    "hash_pin",
    "load_config",
    "parse_config",
]
