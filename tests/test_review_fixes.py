"""Fixes from an administrator's review of the issue-13 call flows: check-config warnings,
phone numbers in YAML, closed-hours targets (R-OVERFLOW, R-CALENDAR, R-RULES, R-LIVECONF)."""

from __future__ import annotations

from pathlib import Path

import pytest

from acd.cli import main as cli_main
from acd.config import parse_config
from acd.config.check import summary
from acd.config.model import Config
from acd.config.warnings import warning_lines
from acd.errors import ConfigError
from tests.test_entry_rules import BASE


def config(text: str) -> Config:
    return parse_config(text, "test.yaml")


def test_check_config_warns_when_an_overflow_target_has_a_calendar_r_overflow() -> None:
    text = BASE.replace(
        "  sales: {code: 2, language: en}",
        "  sales: {code: 2, language: en, calendar: office}\n  billing: {code: 3, language: sv}",
    ).replace(
        "  support: {code: 1, language: sv}",
        "  support:\n    code: 1\n    rules:\n"
        "      - {after: 60, then: {overflow: [billing, sales]}}",
    )
    warnings = warning_lines(config(text))
    closed = [line for line in warnings if "overflows to" in line]
    assert len(closed) == 1, warnings
    assert closed[0].startswith(
        "rule queues.support.rules #1 overflows to sales, which has calendar office"
    )
    assert any(
        "warning: rule queues.support.rules #1 overflows to sales" in s
        for s in summary(config(text), "f")
    )


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("7150", None),
        ("7000", "shipped dialplan's extension of queue support"),
        ("7200", "outside 7100-7199"),
        ("+4612345", "outside 7100-7199"),
    ],
)
def test_check_config_warns_about_entry_numbers_the_dialplan_does_not_route_r_welcome(
    number: str, expected: str | None
) -> None:
    text = BASE + f'entries:\n  kommun: {{number: "{number}", menu: main}}\n'
    found = [line for line in warning_lines(config(text)) if line.startswith("entry kommun")]
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0], found
        assert "acd_entry=kommun" in found[0] or "queue" in found[0]


@pytest.mark.parametrize(
    ("snippet", "where"),
    [
        ("  support:\n    code: 1\n    rules: [{then: {forward: +46812345678}}]", "forward"),
        ("  support:\n    code: 1\n    rules: [{then: {voicemail: 2000}}]", "voicemail"),
        (
            "  support:\n    code: 1\n    rules:\n"
            "      - {when: {caller: {numbers: [+4670123]}}, then: {hangup: true}}",
            "numbers[0]",
        ),
        (
            "  support: {code: 1, calendar: office, closed: {then: forward, target: +46812345678}}",
            "closed.target",
        ),
    ],
)
def test_unquoted_phone_numbers_are_refused_with_a_hint_to_quote_them_r_rules(
    snippet: str, where: str
) -> None:
    """YAML reads +46812345678 as 46812345678: the '+' would be silently lost, so a
    number must be written in quotes; the message says so and where."""
    text = BASE.replace("  support: {code: 1, language: sv}", snippet)
    assert text != BASE
    with pytest.raises(ConfigError) as caught:
        config(text)
    message = str(caught.value)
    assert where in message and "in quotes" in message, message
    # Quoted, the same number is taken as written, '+' included.
    quoted = config(
        text.replace("+46812345678", '"+46812345678"')
        .replace("2000", '"2000"')
        .replace("+4670123", '"+4670123"')
    )
    assert quoted.queues["support"] is not None


def test_unquoted_entry_number_and_menu_transfer_are_refused_r_welcome() -> None:
    text = BASE + "entries:\n  kommun: {number: 7150, menu: main}\n"
    with pytest.raises(ConfigError) as caught:
        config(text)
    assert "entries.kommun.number" in str(caught.value) and "in quotes" in str(caught.value)
    text = BASE.replace('"1": {queue: support}', '"1": {transfer: 7001}')
    with pytest.raises(ConfigError) as caught:
        config(text)
    assert "transfer" in str(caught.value) and "in quotes" in str(caught.value)


def test_closed_forward_keeps_the_plus_and_uses_the_shipped_extension_r_calendar() -> None:
    text = BASE.replace(
        "  support: {code: 1, language: sv}",
        '  support: {code: 1, calendar: office, closed: {then: forward, target: "+46812345678"}}',
    )
    closed = config(text).queues["support"].closed
    assert closed is not None
    assert closed.action().extension() == "acd-forward-+46812345678"
    vm = BASE.replace(
        "  support: {code: 1, language: sv}",
        '  support: {code: 1, calendar: office, closed: {then: voicemail, target: "4000"}}',
    )
    closed = config(vm).queues["support"].closed
    assert closed is not None and closed.action().extension() == "acd-voicemail-4000"


def test_check_config_fails_on_a_malformed_prompt_manifest_as_acd_run_does_r_prompts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`acd run` refuses to start on a malformed manifest: check-config says so too (exit
    2, naming the file), not OK with a warning."""
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    path = tmp_path / "acd.yaml"
    path.write_text(BASE + f"prompts: {{directory: {prompts}}}\n")
    assert cli_main(["check-config", str(path)]) == 0
    (prompts / "manifest.toml").write_text("[sv\nbroken")
    capsys.readouterr()
    assert cli_main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "manifest.toml" in err and "prompts.directory" in err, err


def test_rules_are_numbered_the_same_way_in_errors_and_explanations_r_rules() -> None:
    """The third rule is `queues.support.rules #3` in a configuration error and in
    check-config's explanation and warnings: one numbering, from 1."""
    rules = (
        "  support:\n    code: 1\n    rules:\n"
        "      - {after: 60, then: {overflow: sales}}\n"
        "      - {after: 90, then: {message: busy}}\n"
        "      - {when: {queue_length: '< 0'}, then: {overflow: sales}}"
    )
    good = BASE.replace("  support: {code: 1, language: sv}", rules)
    lines = summary(config(good), "f.yaml")
    assert any(line.startswith("  rule queues.support.rules #3: ") for line in lines), lines
    assert any("warning: rule queues.support.rules #3 never fires" in line for line in lines)
    with pytest.raises(ConfigError) as caught:
        config(
            good.replace("then: {overflow: sales}}\n", "then: {overflow: nowhere}}\n", 1).replace(
                "'< 0'}, then: {overflow: sales}", "'< 0'}, then: {overflow: gone}"
            )
        )
    message = str(caught.value)
    assert "queues.support.rules #1.then.overflow" in message, message
    assert "queues.support.rules #3.then.overflow" in message, message
    assert "rules[" not in message


@pytest.mark.parametrize(
    ("choice", "refused"),
    [
        ('{transfer: "7001"}', False),  # a queue extension of the shipped acd context
        ('{transfer: "7150"}', False),  # an entry number
        ('{transfer: "acd-forward-+46812345678"}', False),  # the way out to a number
        ('{transfer: "08123456"}', True),  # the acd context has no such extension
        ('{transfer: "4000", context: default}', False),  # your own dialplan's extension
        ('{transfer: "7300", context: acd}', False),  # named: one you added to acd.xml
    ],
)
def test_menu_transfer_the_acd_context_cannot_route_is_refused_r_dtmf(
    choice: str, refused: bool
) -> None:
    """R-DTMF: a choice transferring (by default into the acd context) to an extension
    the shipped dialplan does not have would drop the caller: refused, saying how to dial
    a number (acd-forward-<number>) or name another context."""
    text = BASE.replace('"1": {queue: support}', f'"1": {choice}')
    assert text != BASE
    if not refused:
        assert config(text).menus["main"].choices["1"].transfer is not None
        return
    with pytest.raises(ConfigError) as caught:
        config(text)
    message = str(caught.value)
    assert "menus.main.choices.1.transfer" in message and "acd-forward-<number>" in message
