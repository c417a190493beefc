"""Bad configurations: every problem is a ConfigError naming the file, the path, the line
and the reason, all problems at once, and nothing else changes."""

from __future__ import annotations

import contextlib
import copy
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from pydantic import ValidationError

import acd.config.yamlfile
from acd.cli import main as cli_main
from acd.config import Config, InvalidConfigError, load_config, parse_config
from acd.config.yamlfile import read_yaml
from acd.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "acd.yaml"
EXAMPLE_TEXT = EXAMPLE.read_text()


def _edit(old: str, new: str) -> str:
    assert EXAMPLE_TEXT.count(old) == 1, f"the example no longer has exactly one {old!r}"
    return EXAMPLE_TEXT.replace(old, new)


def _line(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


def _problems(text: str, tmp_path: Path) -> InvalidConfigError:
    path = tmp_path / "acd.yaml"
    path.write_text(text)
    with pytest.raises(InvalidConfigError) as info:
        load_config(path)
    assert isinstance(info.value, ConfigError)
    assert str(info.value).startswith(f"{path}: ")
    return info.value


# (old, new, path, reason fragment): one edit of the example, exactly one problem.
CASES = [
    ("tenant: default", "tenant: default\nbogus: 1", "bogus", "unknown key (known: tenant"),
    ("  port: 8021", "  port: 8021\n  pasword: x", "esl.pasword", "did you mean 'password'?"),
    ("      max_cv: 1.0", "      max_cvv: 1.0", "queues.support.aht.max_cvv", "did you mean"),
    (
        "      position: true\n      ewt: true",
        "      position: true\n      ewt: true\n      loud: true",
        "queues.support.announcements.loud",
        "unknown key",
    ),
    (
        "    name: Bo Berg",
        "    name: Bo Berg\n    nickname: Bosse",
        "agents.1002.nickname",
        "unknown",
    ),
    ("wrap_up_seconds: 15", "wrap_up_seconds: -1", "queues.support.wrap_up_seconds", ">= 0"),
    ("wrap_up_seconds: 15", "wrap_up_seconds: '15'", "queues.support.wrap_up_seconds", "number"),
    ("wrap_up_seconds: 15", "wrap_up_seconds: .inf", "queues.support.wrap_up_seconds", "finite"),
    ("    ring_timeout: 20  ", "    ring_timeout: 2.5  ", "queues.support.ring_timeout", "whole"),
    (
        "      position: true",
        "      position: yes",
        "queues.support.announcements.position",
        "true",
    ),
    ("state: paused", "state: asleep", "queues.support.no_answer.state", "'available' or 'paused'"),
    ("port: 8021", "port: 80210", "esl.port", "must be <= 65535"),
    ("password: ClueCon ", "password: 'Clue Con' ", "esl.password", "without whitespace"),
    ("  host: 127.0.0.1\n  port: 8021", "  host: 'a b'\n  port: 8021", "esl.host", "'a b'"),
    ("reconnect_max: 10 ", "reconnect_max: 0.01 ", "esl.reconnect_max", "reconnect_min"),
    ("redis://127.0.0.1:6379/0 ", "http://127.0.0.1/ ", "redis.url", "scheme"),
    ("language: sv\nlanguages", "language: de\nlanguages", "language", "not one of languages"),
    ("language: sv\nlanguages", "language: SV\nlanguages", "language", "2-3 lowercase"),
    ("queues: [support]", "queues: [suport]", "agents.1002.queues[0]", "no queue named 'suport'"),
    (
        "add_queues: [sales]",
        "add_queues: [salse]",
        "queues.support.escalation[1].add_queues[0]",
        "no queue named 'salse'",
    ),
    (
        "add_queues: [sales]",
        "add_queues: [support]",
        "queues.support.escalation[1].add_queues[0]",
        "own queue",
    ),
    ("      billing: 1 ", "      billling: 1 ", "queues.support.skills.billling", "not declared"),
    (
        "levels: {billing: 0}",
        "levels: {cooking: 0}",
        "queues.support.escalation[0].levels.cooking",
        "not declared",
    ),
    (
        "{billing: 1, invoice: 1, products: 2}",
        "{billing: 1, invoice: 1, cooking: 2}",
        "agents.1002.skills.cooking",
        "skill 'cooking' is not declared under skills",
    ),
    ("languages: [sv]\n", "languages: [sv, de]\n", "agents.1002.languages[1]", "not one of"),
    ("    code: 2\n", "    code: 1\n", "queues.sales.code", "already used by queue 'support'"),
    ("- after: 300", "- after: 100", "queues.support.escalation[1].after", "order"),
    ("contact: user/1002", "contact: user/1002:_:user/1003", "agents.1002.contact", ":_:"),
    ("contact: user/1002", "contact: 'user/1002\\nx'", "agents.1002.contact", "'\\\\'"),
    (
        "contact: user/1002",
        'contact: "user/1002\\nuuid_kill all"',
        "agents.1002.contact",
        "control",
    ),
    ("contact: user/1002", "contact: user/${x}", "agents.1002.contact", "'$'"),
    ("contact: user/1002", "contact: 'sofia/internal/1002'", "agents.1002.contact", "dial"),
    ("moh: local_stream://moh", "moh: 'http://evil/x.mp3'", "sounds.moh", "unsupported scheme"),
    ("moh: local_stream://moh", "moh: 'local_stream://a b'", "sounds.moh", "local stream"),
    ("moh: local_stream://moh", "moh: '../../etc/passwd'", "sounds.moh", "unsafe"),
    ("loops=-1", "loops=-1;${system rm}", "sounds.ringback", "tone stream"),
    ("whisper: acd_whisper", "whisper: 'phrase:x y'", "queues.support.whisper", "phrase"),
    (
        "repeat: [position]",
        "repeat: [position, position]",
        "queues.support.announcements.repeat[1]",
        "twice",
    ),
    (
        "    ewt: false",
        "    ewt: false\n      repeat: [ewt]",
        "queues.sales.announcements.repeat[0]",
        "not announced",
    ),
    ("pin: 4821", "pin: 12", "agents.1001.pin", "4-8 digits"),
    ("pin: 4821", "pin: '48a1'", "agents.1001.pin", "4-8 digits"),
    ("pin: 90210", "pin: 90210\n    pin_sha256: " + "a" * 64, "agents.1004.pin", "exactly one"),
    ("  1004:", "  10045:", "agents.10045.id", "id_digits = 4"),
    ("pin_max_digits: 8", "pin_max_digits: 4", "agents.1004.pin", "pin_max_digits"),
    (
        "pin_min_digits: 4\n  pin_max_digits: 8",
        "pin_min_digits: 8\n  pin_max_digits: 6",
        "feature_codes.pin_min_digits",
        "larger",
    ),
    (
        "    3: training",
        "    3: lunch",
        "feature_codes.pause_reasons.3",
        "lunch already has code 1",
    ),
    ("-board", "-admin", "http.tokens[1].token", "the same secret as tokens[0]"),
    ("name: wallboard", "name: operations", "http.tokens[1].name", "the same name"),
    ("role: viewer", "role: boss", "http.tokens[1].role", "'viewer', 'agent'"),
    ("      callback: 10", "      fax: 10", "queues.support.channel_priority.fax (key)", "'voice'"),
    ("    code: 1 ", "    code: one ", "queues.support.code", "1-6 digits"),
    ("    code: 1 ", "    name: other\n    code: 1 ", "queues.support.name", "must be the key"),
    ("every: 45", "every: 1", "queues.sales.announcements.every", ">= 5"),
    (
        "ring_timeout: 20         #",
        "ring_timeout: 20\n    reservation_timeout: 20 #",
        "queues.support.reservation_timeout",
        "longer",
    ),
    (
        "sticky_window: 172800",
        "sticky_window: 99999999",
        "queues.support.sticky_window",
        "<= 2592000",
    ),
    ("tenant: default", "tenant: 'a b'", "tenant", "must match"),
    ("  billing: Invoices, payments and refunds", "  billing: ''", "skills.billing", "blank"),
    ("queues: [support]\n", "queues: []\n", "agents.1002.queues", "at least 1"),
]


@pytest.mark.parametrize(("old", "new", "path", "reason"), CASES)
def test_one_bad_value_one_problem_naming_path_line_and_reason(
    old: str, new: str, path: str, reason: str, tmp_path: Path
) -> None:
    text = _edit(old, new)
    error = _problems(text, tmp_path)
    assert [problem.path for problem in error.problems] == [path]
    problem = error.problems[0]
    assert reason in problem.reason
    assert problem.line is not None and 1 <= problem.line <= text.count("\n")
    assert f"  {path} (line {problem.line}): " in str(error)


@pytest.mark.parametrize(
    ("old", "new", "line_of"),
    [
        # a bad value: its own line
        ("wrap_up_seconds: 15", "wrap_up_seconds: -1", "wrap_up_seconds: -1"),
        # an unknown key: the key's value
        ("      max_cv: 1.0", "      max_cvv: 1.0", "max_cvv"),
        # a check across sections: the place named, not the declaration it misses
        ("{billing: 1, invoice: 1, products: 2}", "{billing: 1, cooking: 2}", "{billing: 1, co"),
        # a check on a whole object, reported at the key it concerns
        ("pin: 90210", "pin: 90210\n    pin_sha256: " + "a" * 64, "pin: 90210"),
        # a missing key: the mapping that lacks it
        ("    queues: [support]\n", "\n", "name: Bo Berg"),
    ],
)
def test_problem_lines(old: str, new: str, line_of: str, tmp_path: Path) -> None:
    text = _edit(old, new)
    (problem,) = _problems(text, tmp_path).problems
    assert problem.line == _line(text, line_of)


def test_every_problem_is_listed_in_file_order(tmp_path: Path) -> None:
    text = (
        _edit("wrap_up_seconds: 15", "wrap_up_seconds: -1")
        .replace("contact: user/1002", "contact: 'user/1002:_:user/1003'")
        .replace("  port: 8021", "  port: 8021\n  pasword: x")
    )
    error = _problems(text, tmp_path)
    assert [problem.path for problem in error.problems] == [
        "esl.pasword",
        "queues.support.wrap_up_seconds",
        "agents.1002.contact",
    ]
    assert str(error).splitlines()[0].endswith("3 problems:")


def test_cross_checks_are_all_listed_together(tmp_path: Path) -> None:
    text = _edit("queues: [support]", "queues: [nowhere]").replace(
        "{billing: 1, invoice: 1, products: 2}", "{cooking: 1}"
    )
    error = _problems(text, tmp_path)
    assert sorted(problem.path for problem in error.problems) == [
        "agents.1002.queues[0]",
        "agents.1002.skills.cooking",
    ]


def test_duplicate_yaml_key_names_both_lines(tmp_path: Path) -> None:
    text = _edit("    code: 2\n", "    code: 2\n    code: 3\n")
    error = _problems(text, tmp_path)
    first = _line(text, "    code: 2\n")
    assert [str(problem) for problem in error.problems] == [
        f"queues.sales.code (line {first + 1}): duplicate key 'code' (first given on line {first})"
    ]


def test_keys_equal_after_reading_are_duplicates(tmp_path: Path) -> None:
    """`1001:` and `'1001':` are the same agent."""
    text = _edit("  1002:\n", "  '1001':\n")
    assert [p.path for p in _problems(text, tmp_path).problems] == ["agents.1001"]


@pytest.mark.parametrize("loader", ["libyaml", "python"])
def test_yaml_syntax_error_names_the_line(
    loader: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if loader == "python":
        monkeypatch.setattr(acd.config.yamlfile, "_Loader", acd.config.yamlfile._PyLoader)
    text = _edit("  sales:\n", "  sales\n")
    error = _problems(text, tmp_path)
    (problem,) = error.problems
    assert problem.path == "" and problem.reason.startswith("YAML: ")
    assert problem.line in (_line(text, "  sales\n"), _line(text, "  sales\n") + 1)
    assert f"line {problem.line}: YAML" in str(error)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("x: &a {b: 1}\ny:\n  <<: *a\n", "merge keys"),
        ("queues: !!binary aGVsbG8=\n", "tag"),
        ("queues: !custom 1\n", "tag"),
        ("queues: !!int abc\n", "not a valid int"),
        ("true: 1\n", "key must be text"),
        ("? [a, b]\n: 1\n", "key must be plain text"),
        ("- a\n- b\n", "must be a mapping"),
        ("queues: {q: {code: 1}}\n\x01\n", "YAML"),
        ("", "queues: required key missing"),
    ],
)
def test_unsupported_yaml_is_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidConfigError) as info:
        parse_config(text, "x.yaml")
    assert reason in str(info.value)
    assert str(info.value).startswith("x.yaml: ")


def test_aliases_cannot_expand_without_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acd.config.yamlfile, "MAX_NODES", 1_000)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdef":
        previous = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [*{previous}, *{previous}, *{previous}, *{previous}]\n"
    with pytest.raises(InvalidConfigError, match="aliases are expanded"):
        parse_config(bomb)


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(InvalidConfigError, match="cannot read"):
        load_config(missing)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"queues:\n  k\xf6: {code: 1}\n")
    with pytest.raises(InvalidConfigError) as info:
        load_config(latin)
    assert str(info.value) == f"{latin}: 1 problem:\n  line 2: not UTF-8 text"


def test_secrets_are_never_repeated_in_messages(tmp_path: Path) -> None:
    text = (
        _edit("password: ClueCon ", "password: 'hunter2 x' ")
        .replace("REPLACE-ME-with-openssl-rand-hex-24-admin", "'shortsecret'")
        .replace("redis://127.0.0.1:6379/0 ", "'redis://:topsecret@h:99999/0' ")
        .replace("pin: 4821", "pin: 48x21")
    )
    message = str(_problems(text, tmp_path))
    for secret in ("hunter2", "shortsecret", "topsecret", "48x21"):
        assert secret not in message
    for path in ("esl.password", "http.tokens[0].token", "redis.url", "agents.1001.pin"):
        assert path in message


def test_a_refused_file_changes_nothing(tmp_path: Path) -> None:
    """The data handed in is not modified, whether it is valid or not, and a config read
    earlier is the same after a bad one is refused."""
    good, _ = read_yaml(EXAMPLE_TEXT, "x")
    bad = copy.deepcopy(good)
    bad["queues"]["support"]["wrap_up_seconds"] = -1
    for data in (good, bad):
        before = copy.deepcopy(data)
        with contextlib.suppress(ValidationError):
            Config.model_validate(data)
        assert data == before
    loaded = load_config(EXAMPLE)
    dumped = loaded.model_dump()
    _problems(_edit("wrap_up_seconds: 15", "wrap_up_seconds: -1"), tmp_path)
    assert loaded.model_dump() == dumped
    assert load_config(EXAMPLE) == loaded


# --------------------------------------------------------------------- check-config


@pytest.fixture
def _restore_logging() -> Iterator[None]:
    """The CLI configures structlog globally; put the defaults back for other tests."""
    yield
    structlog.reset_defaults()


@pytest.mark.usefixtures("_restore_logging")
def test_check_config_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["check-config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{EXAMPLE}: OK — 2 queues, 4 agents, 4 skills"
    assert out[1].startswith("  support: code 1, sv, skills billing>=1, 4 agents (4 qualified)")
    assert out[2].startswith("  sales: code 2, en, skills products>=1, 3 agents (2 qualified)")
    assert len(out) == 3


@pytest.mark.usefixtures("_restore_logging")
def test_check_config_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(_edit("wrap_up_seconds: 15", "wrap_up_seconds: -1"))
    assert cli_main(["check-config", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[0] == f"{path}: 1 problem:"
    assert "queues.support.wrap_up_seconds" in captured.err
    assert cli_main(["check-config", str(tmp_path / "none.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.usefixtures("_restore_logging")
def test_check_config_notes_a_missing_redis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "small.yaml"
    path.write_text("queues: {q: {code: 1}}\n")
    assert cli_main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: OK — 1 queue, 0 agents, 0 skills\n")
    assert "no redis section" in out


def test_the_error_survives_pickling() -> None:
    """It may cross a process boundary (the demo runs parts in child processes)."""
    with pytest.raises(InvalidConfigError) as info:
        parse_config("queues: {q: 5}\n", "p.yaml")
    again = pickle.loads(pickle.dumps(info.value))
    assert (again.source, again.problems, str(again)) == (
        "p.yaml",
        info.value.problems,
        str(info.value),
    )
