"""``acd check-config FILE``: validate a configuration file and summarise it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from acd.config.loading import load_config
from acd.config.model import Config
from acd.config.queues import QueueSettings
from acd.config.rules_explain import rule_lines
from acd.config.warnings import warning_lines
from acd.errors import ConfigError
from acd.prompts import PromptCatalogue, PromptError

EXIT_OK = 0
EXIT_INVALID = 2


def main(path: str | Path, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Check the file at ``path``: print ``FILE: OK — ...`` and one line per queue to
    ``out`` and return 0, or print every problem to ``err`` and return 2 (also for a
    malformed prompt manifest in ``prompts.directory``, on which ``acd run`` refuses to
    start)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        config = load_config(path)
    except ConfigError as error:
        print(error, file=err)
        return EXIT_INVALID
    try:
        # `acd run` refuses to start on a malformed customer manifest: so does this.
        PromptCatalogue(config.prompts.directory)
    except PromptError as error:
        print(f"{path}: prompts.directory: {error}", file=err)
        return EXIT_INVALID
    for line in summary(config, str(path)):
        print(line, file=out)
    return EXIT_OK


def summary(config: Config, source: str) -> list[str]:
    """The lines ``check-config`` prints for a valid configuration."""
    counts = (
        f"{len(config.queues)} queue{'s' if len(config.queues) != 1 else ''},"
        f" {len(config.agents)} agent{'s' if len(config.agents) != 1 else ''},"
        f" {len(config.skills)} skill{'s' if len(config.skills) != 1 else ''}"
    )
    lines = [f"{source}: OK — {counts}"]
    lines.extend(f"  {_queue_line(config, queue)}" for queue in config.queues.values())
    rules = rule_lines(config)  # R-RULES: one line each, then their warnings
    lines.extend(f"  {line}" for line in rules if not line.startswith("warning:"))
    lines.extend(f"  warning: {line}" for line in warning_lines(config))
    if config.redis is None:
        lines.append("  note: no redis section: `acd run` needs one (`acd demo` brings its own)")
    return lines


def _queue_line(config: Config, queue: QueueSettings) -> str:
    skills = ", ".join(f"{skill}>={level}" for skill, level in queue.skills.items()) or "none"
    members = sum(1 for agent in config.agents.values() if queue.name in agent.queues)
    qualified = len(config.qualified_agents(queue.name))
    told = [
        part
        for part, enabled in (
            ("position", queue.announcements.position),
            ("ewt", queue.announcements.ewt),
            ("agents", queue.announcements.agents_min is not None),
        )
        if enabled
    ]
    inhibited = queue.announcements.ewt_inhibit_case_types
    if "ewt" in told and inhibited:  # R-EWT: not told for these case types
        told[told.index("ewt")] = f"ewt (not for case type {', '.join(inhibited)})"
    announce = f"every {queue.announcements.every:g} s: {'+'.join(told)}" if told else "none"
    return (
        f"{queue.name}: code {queue.code}, {queue.language}, skills {skills},"
        f" {members} agents ({qualified} qualified), ring {queue.ring_timeout} s,"
        f" wrap-up {queue.wrap_up_seconds:g} s, no answer -> {queue.no_answer.state},"
        f" announcements {announce}, waiting sound {queue.waiting_sound},"
        f" {len(queue.escalation)} escalation steps"
    )
