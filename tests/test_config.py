"""The configuration: the shipped example, the embedded defaults, the typed objects and
what they give the router and the ESL client."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from acd.config import (
    RESERVATION_MARGIN,
    Config,
    InvalidConfigError,
    default_config,
    hash_pin,
    load_config,
    parse_config,
)
from acd.errors import ConfigError
from freeswitch.client_settings import ClientSettings
from freeswitch.media import RINGBACK, LocalStream, Phrase, parse_playable
from routing.api import AgentProfile, Contact, QueueConfig
from routing.model import ReferenceRouter

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "acd.yaml"
DIALPLAN = ROOT / "freeswitch" / "conf" / "dialplan" / "acd.xml"

MINIMAL = "queues: {q: {code: 1}}\n"


@pytest.fixture(scope="module")
def example() -> Config:
    return load_config(EXAMPLE)


def test_example_loads_with_what_its_comments_say(example: Config) -> None:
    assert list(example.queues) == ["support", "sales"]
    support, sales = example.queues["support"], example.queues["sales"]
    assert (support.code, support.language, dict(support.skills)) == ("1", "sv", {"billing": 1})
    assert (sales.code, sales.language) == ("2", "en")
    assert list(example.agents) == ["1001", "1002", "1003", "1004"]
    assert example.agents["1001"].contact == "user/1001"
    assert example.agents["1004"].passive and example.agents["1004"].telephonist
    assert dict(example.feature_codes.pause_reasons) == {
        "1": "lunch",
        "2": "meeting",
        "3": "training",
    }
    assert example.sounds.ringback == RINGBACK
    assert support.whisper == Phrase("acd_whisper") and sales.whisper is None
    assert example.redis is not None and example.redis.url == "redis://127.0.0.1:6379/0"


def _dialplan_entries() -> list[dict[str, str]]:
    """The acd_* variables each shipped queue entry sets (XML comments are not parsed)."""
    entries = []
    for extension in ET.parse(DIALPLAN).getroot().iter("extension"):
        variables = {}
        for action in extension.iter("action"):
            if action.get("application") == "set":
                name, _, value = (action.get("data") or "").partition("=")
                variables[name] = value
        if "acd_queue" in variables:
            entries.append(variables)
    return entries


def test_example_serves_every_queue_entry_of_the_shipped_dialplan(example: Config) -> None:
    entries = _dialplan_entries()
    assert entries, "the dialplan has no queue entries"
    for entry in entries:
        queue = example.queues[entry["acd_queue"]]
        assert entry.get("acd_language", queue.language) in example.languages
        for pair in filter(None, entry.get("acd_skills", "").split(",")):
            skill, _, level = pair.partition(":")
            assert skill in example.skills
            # Someone in the queue must be able to answer the entry's callers.
            assert any(
                agent.skills.get(skill, 0) >= int(level)
                for agent in example.agents.values()
                if queue.name in agent.queues
            )


def test_example_pins_work_also_with_a_leading_zero_and_as_hash(example: Config) -> None:
    assert example.agents["1001"].check_pin("4821")
    assert example.agents["1002"].check_pin("0735")
    assert not example.agents["1002"].check_pin("735")
    assert example.agents["1003"].pin is None
    assert example.agents["1003"].check_pin("5577")
    assert not example.agents["1003"].check_pin("5578")


def test_default_config_is_the_demo_setup() -> None:
    config = default_config()
    assert list(config.queues) == ["support", "sales"]
    assert len(config.agents) == 10
    assert config.redis is None
    assert (config.esl.host, config.esl.port, config.esl.password) == (
        "127.0.0.1",
        8021,
        "ClueCon",
    )
    for name in config.queues:
        assert config.qualified_agents(name), f"nobody can answer {name}"
    assert all(agent.check_pin("1234") for agent in config.agents.values())


@pytest.mark.parametrize("config", [pytest.param("example"), pytest.param("default")])
def test_routing_objects_drive_the_reference_router(config: str, example: Config) -> None:
    """routing_config()/routing_profile() build the router's own value types, and a caller
    with the queue's requirements is offered to a qualified member (R-SKILL, R-MULTI)."""
    cfg = example if config == "example" else default_config()
    router = ReferenceRouter()
    now = 1_000.0
    for queue in cfg.queues.values():
        router.put_queue(queue.routing_config(), now)
    for agent in cfg.agents.values():
        router.put_agent(agent.routing_profile(), now)
        router.login(agent.id, agent.queues, now)
    for name, queue in cfg.queues.items():
        made = router.arrive(Contact(f"c-{name}", "voice", name, now, language=queue.language), now)
        assert len(made) == 1
        assert made[0].agent_id in cfg.qualified_agents(name)
        assert made[0].expires_at == now + queue.reservation_seconds


def test_routing_config_maps_every_setting(example: Config) -> None:
    support = example.queues["support"]
    routed = support.routing_config()
    assert isinstance(routed, QueueConfig)
    assert routed.reservation_timeout == support.ring_timeout + RESERVATION_MARGIN
    assert [step.after for step in routed.escalation] == [120.0, 300.0]
    assert dict(routed.escalation[0].levels) == {"billing": 0}
    assert routed.escalation[1].drop_language and routed.escalation[1].add_queues == ("sales",)
    assert (routed.passive_waiting, routed.passive_wait_seconds) == (5, 180.0)
    assert dict(routed.channel_priority) == {"callback": 10}
    assert (routed.wrap_up_seconds, routed.no_answer_state) == (15.0, "paused")
    assert (routed.initial_aht, routed.min_samples, routed.max_cv, routed.max_ewt) == (
        180.0,
        10,
        1.0,
        3600.0,
    )
    explicit = parse_config("queues: {q: {code: 1, ring_timeout: 30, reservation_timeout: 45}}")
    assert explicit.queues["q"].routing_config().reservation_timeout == 45.0


def test_routing_profile(example: Config) -> None:
    profile = example.agents["1003"].routing_profile()
    assert profile == AgentProfile(
        id="1003",
        skills={"products": 3, "technical": 2, "billing": 1},
        languages=("en", "sv"),
        passive=False,
    )


def test_esl_client_settings() -> None:
    config = parse_config(
        MINIMAL + "esl: {host: fs.example, port: 8022, password: s3cret, command_timeout: 2,"
        " idle_timeout: 0}\n"
    )
    settings = config.esl.client_settings(("CHANNEL_PARK", "callcenter::info"))
    assert isinstance(settings, ClientSettings)
    assert (settings.host, settings.port, settings.password) == ("fs.example", 8022, "s3cret")
    assert (settings.command_timeout, settings.idle_timeout) == (2.0, 0.0)
    assert settings.events == ("CHANNEL_PARK", "callcenter::info")
    with pytest.raises(ConfigError):
        config.esl.client_settings(("not an event",))
    assert "s3cret" not in repr(config)


def test_hold_sound_follows_answer_state_and_overrides(example: Config) -> None:
    """R-NOSILENCE: music when answered, ringback when not, unless the queue chooses."""
    sounds = example.sounds
    support = example.queues["support"]
    assert support.hold_sound(sounds, answered=True) == LocalStream("moh")
    assert support.hold_sound(sounds, answered=False) == RINGBACK
    own = parse_config(
        "queues: {q: {code: 1, moh: 'local_stream://own'}, r: {code: 2, waiting_sound: moh}}"
    )
    assert own.queues["q"].hold_sound(own.sounds, answered=True) == LocalStream("own")
    assert own.queues["r"].hold_sound(own.sounds, answered=False) == LocalStream("moh")


def test_defaults_fill_names_and_languages() -> None:
    config = parse_config(
        "language: en\nskills: {a: x}\nqueues: {q: {code: 1}}\n"
        "agents: {'1234': {pin: 1234, queues: [q], skills: {a: 2}}}"
    )
    assert config.queues["q"].name == "q"
    assert config.queues["q"].language == "en"
    assert config.agents["1234"].id == "1234"
    assert config.agents["1234"].languages == ("en",)
    assert config.qualified_agents("q") == ("1234",)


def test_objects_are_frozen(example: Config) -> None:
    with pytest.raises(ValueError, match="frozen"):
        example.tenant = "other"
    with pytest.raises(ValueError, match="frozen"):
        example.queues["support"].wrap_up_seconds = 0
    with pytest.raises(TypeError):
        example.queues["x"] = example.queues["support"]  # type: ignore[index]
    with pytest.raises(TypeError):
        example.agents["1001"].skills["billing"] = 9  # type: ignore[index]


def test_yaml_is_read_plainly() -> None:
    """YAML 1.2 scalars: `no` is text, a leading zero keeps its digits, keys are text."""
    config = parse_config(
        "languages: [sv, en, no]\nskills: {billing: 2024-12-24}\n"
        "feature_codes: {pause_reasons: {07: lunch, 1: meeting}}\n"
        "queues: {q: {code: 007}}\n"
        "agents: {1001: {pin: 0123, queues: [q], skills: {billing: 1}}}\n"
    )
    assert config.languages == ("sv", "en", "no")
    assert config.skills["billing"] == "2024-12-24"
    assert dict(config.feature_codes.pause_reasons) == {"07": "lunch", "1": "meeting"}
    assert config.queues["q"].code == "007"
    assert config.agents["1001"].pin == "0123" and config.agents["1001"].check_pin("0123")


def test_anchors_and_aliases_work() -> None:
    config = parse_config(
        "skills: {a: x, b: y}\nqueues: {q: {code: 1}}\nagents:\n"
        "  1001: {pin: '1111', queues: [q], skills: &std {a: 1, b: 2}}\n"
        "  1002: {pin: '2222', queues: [q], skills: *std}\n"
    )
    assert config.agents["1001"].skills == config.agents["1002"].skills


def test_dump_and_parse_round_trip(example: Config) -> None:
    """model_dump(mode='json') is a complete, valid configuration again."""
    text = yaml.safe_dump(example.model_dump(mode="json"), sort_keys=False)
    assert parse_config(text) == example
    again = default_config().model_dump(mode="json")
    assert parse_config(yaml.safe_dump(again)) == default_config()


def test_check_pin_refuses_anything_but_digits() -> None:
    config = parse_config(
        "queues: {q: {code: 1}}\nagents: {'1001': {pin: '123456', queues: [q]}}\n"
    )
    agent = config.agents["1001"]
    assert agent.check_pin("123456")
    for entered in (
        "",
        "12345",
        "1234567",
        "123456#",
        " 123456",
        "\uff11\uff12\uff13\uff14\uff15\uff16",
    ):
        assert not agent.check_pin(entered)
    assert not agent.check_pin(123456)  # type: ignore[arg-type]
    assert hash_pin("123456") == hash_pin("123456") != hash_pin("123457")


def test_sounds_are_the_parsed_playables(example: Config) -> None:
    assert example.sounds.moh == parse_playable("local_stream://moh")
    assert example.sounds.ringback.broadcast_arg() == "tone_stream://%(2000,4000,440,480);loops=-1"


def test_load_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "acd.yaml"
    path.write_text("queues: {}\n")
    with pytest.raises(InvalidConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: 1 problem:")
    assert info.value.source == str(path)
