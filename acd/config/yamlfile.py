"""Reading the YAML file into plain data, strictly.

PyYAML's ``safe_load`` keeps the last of two equal keys without a word and follows YAML
1.1, where ``no`` is false (the Norway problem: ``languages: [sv, no]``), ``0123`` is
the octal number 83 (a PIN that loses its digits) and ``2024-12-24`` is a date. This
reader is stricter and plainer:

* a key given twice in one mapping is an error naming both lines;
* scalars follow the YAML 1.2 core schema, except that a number with a leading zero
  stays text: ``true``/``false``, ``null``/``~``/empty, decimal integers, decimal floats
  (``.inf``/``.nan`` parse but the models refuse them); everything else is text;
* mapping keys are text (an unquoted ``1001:`` becomes ``"1001"``), merge keys (``<<``)
  and explicit tags other than the core ones are refused; anchors and aliases work;
* each value's line is recorded, so later errors can name it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from acd.config.problems import ConfigProblem, InvalidConfigError, LineMap, Loc, format_path

MAX_NODES = 1_000_000
"""Values allowed after aliases are expanded: a few aliases of aliases can otherwise
stand for billions of values ("billion laughs")."""

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_SCALAR_TAGS = frozenset(
    {_STR, "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
     "tag:yaml.org,2002:null"}
)  # fmt: skip


class _CoreResolver(BaseResolver):
    """YAML 1.2 core schema resolution, leading-zero numbers kept as text."""


_CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9]+[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)


class _PyLoader(Reader, Scanner, Parser, Composer, SafeConstructor, _CoreResolver):
    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        _CoreResolver.__init__(self)


_Loader: type[_PyLoader] = _PyLoader
if yaml.__with_libyaml__:  # pragma: no branch - libyaml parses ~20x faster (2,000 agents)
    from yaml._yaml import CParser

    class _CLoader(CParser, SafeConstructor, _CoreResolver):
        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            SafeConstructor.__init__(self)
            _CoreResolver.__init__(self)

    _Loader = _CLoader  # type: ignore[assignment]


@dataclass
class _Walk:
    loader: _PyLoader
    problems: list[ConfigProblem] = field(default_factory=list)
    lines: dict[Loc, int] = field(default_factory=dict)
    nodes: int = 0

    def problem(self, loc: Loc, node: Node, reason: str) -> None:
        self.problems.append(ConfigProblem(format_path(loc), reason, node.start_mark.line + 1))

    def value(self, node: Node, loc: Loc) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooLargeError
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, ScalarNode):
            if node.tag not in _SCALAR_TAGS:
                self.problem(loc, node, f"YAML tag {node.tag!r} is not supported here")
                return None
            return self.scalar(node, loc)
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                self.problem(loc, node, f"YAML tag {node.tag!r} is not supported here")
                return None
            return [self.value(item, (*loc, index)) for index, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            if node.tag != _MAP:
                self.problem(loc, node, f"YAML tag {node.tag!r} is not supported here")
                return None
            return self.mapping(node, loc)
        raise AssertionError(f"unknown YAML node {node!r}")

    def scalar(self, node: ScalarNode, loc: Loc) -> Any:
        try:
            return self.loader.construct_object(node)
        except (ValueError, KeyError, TypeError):
            # An explicit tag on a value that does not fit it: !!int abc, !!bool maybe.
            self.problem(loc, node, f"{node.value!r} is not a valid {node.tag.rsplit(':', 1)[-1]}")
            return None

    def mapping(self, node: MappingNode, loc: Loc) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode) or key_node.tag not in _SCALAR_TAGS:
                self.problem(loc, key_node, "a key must be plain text, not a list or mapping")
                continue
            key = self.scalar(key_node, loc)
            if key == "<<" and not key_node.style:  # plain style: None (Python), "" (libyaml)
                self.problem(loc, key_node, "YAML merge keys (<<) are not supported")
                continue
            if isinstance(key, int) and not isinstance(key, bool):
                key = str(key)
            if not isinstance(key, str):
                self.problem(loc, key_node, f"a key must be text, not {key!r} (quote it)")
                continue
            if key in first_line:
                self.problem(
                    (*loc, key),
                    key_node,
                    f"duplicate key {key!r} (first given on line {first_line[key]})",
                )
                continue
            first_line[key] = line
            result[key] = self.value(value_node, (*loc, key))
        return result


class _TooLargeError(Exception):
    pass


def read_yaml(text: str, source: str) -> tuple[Any, LineMap]:
    """The data in ``text`` and the line of each value. An empty document is ``{}``.
    Raises :class:`InvalidConfigError` (naming ``source`` and the line) for a syntax error, a
    duplicate key or an unsupported construct."""
    loader: _PyLoader | None = None
    try:
        loader = _Loader(text)  # the reader refuses control characters here already
        walk = _Walk(loader)
        node = loader.get_single_node()
        data = {} if node is None else walk.value(node, ())
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        reason = " ".join(part for part in (error.context, error.problem) if part)
        line = mark.line + 1 if mark is not None else None
        start = error.context_mark
        if start is not None and line is not None and start.line + 1 != line:
            reason += f" (in what starts on line {start.line + 1})"
        raise InvalidConfigError(source, [ConfigProblem("", f"YAML: {reason}", line)]) from None
    except yaml.YAMLError as error:
        raise InvalidConfigError(source, [ConfigProblem("", f"YAML: {error}")]) from None
    except _TooLargeError:
        reason = f"more than {MAX_NODES} values once aliases are expanded"
        raise InvalidConfigError(source, [ConfigProblem("", reason)]) from None
    except RecursionError:
        raise InvalidConfigError(source, [ConfigProblem("", "YAML nested too deeply")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if walk.problems:
        raise InvalidConfigError(source, walk.problems)
    return data, walk.lines
