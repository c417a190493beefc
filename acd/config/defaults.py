"""The embedded configuration ``acd demo`` runs on: no file needed.

Two queues (``support``: Swedish, billing; ``sales``: English, products) and ten agents
1001-1010 with PIN 1234, on the Event Socket at 127.0.0.1:8021 (password ClueCon).
``redis`` is null: the demo starts its own Redis and supplies the URL.
"""

from __future__ import annotations

from functools import cache

from acd.config.loading import parse_config
from acd.config.model import Config

_AGENTS = [
    # id, skills, languages, queues
    ("1001", "{billing: 3, invoice: 2, technical: 1}", "[sv, en]", "[support, sales]"),
    ("1002", "{billing: 2, invoice: 1, products: 1}", "[sv]", "[support]"),
    ("1003", "{billing: 1, invoice: 1, technical: 2}", "[sv]", "[support]"),
    ("1004", "{billing: 2, invoice: 3, technical: 1}", "[sv, en]", "[support]"),
    ("1005", "{billing: 1, technical: 3, products: 1}", "[sv]", "[support]"),
    ("1006", "{products: 3, technical: 1, billing: 1}", "[en]", "[sales]"),
    ("1007", "{products: 2, technical: 2, invoice: 1}", "[en, sv]", "[sales]"),
    ("1008", "{products: 1, billing: 1, invoice: 1}", "[en]", "[sales]"),
    ("1009", "{products: 2, billing: 2, technical: 2}", "[en, sv]", "[sales, support]"),
    ("1010", "{billing: 3, products: 3, technical: 3}", "[sv, en]", "[support, sales]"),
]

DEFAULT_YAML = """\
esl: {host: 127.0.0.1, port: 8021, password: ClueCon}
redis: null
language: sv
languages: [sv, en]
skills:
  billing: Invoices and payments
  invoice: A specific invoice
  technical: Technical support
  products: Product advice and orders
queues:
  support:
    code: 1
    language: sv
    skills: {billing: 1}
    escalation:
      - {after: 120, levels: {billing: 0}}
    wrap_up_seconds: 5
    announcements: {agents_min: 2}
  sales:
    code: 2
    language: en
    skills: {products: 1}
    wrap_up_seconds: 5
    no_answer: {state: available}
agents:
""" + "".join(
    f"  {agent}: {{name: Agent {agent}, pin: '1234', contact: user/{agent},"
    f" skills: {skills}, languages: {languages}, queues: {queues}}}\n"
    for agent, skills, languages, queues in _AGENTS
)


@cache
def default_config() -> Config:
    """The embedded demo configuration (validated like a file; the same object each call)."""
    return parse_config(DEFAULT_YAML, "<default configuration>")
