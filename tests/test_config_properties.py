"""Whatever the file holds, reading it gives a Config or an InvalidConfigError, never
another exception; every problem names a place and a reason."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd.config import Config, InvalidConfigError, parse_config
from acd.config.yamlfile import read_yaml

EXAMPLE_TEXT = (Path(__file__).resolve().parent.parent / "examples" / "acd.yaml").read_text()
EXAMPLE_DATA, _ = read_yaml(EXAMPLE_TEXT, "example")

# Keys the schema knows, so random mappings reach deep into the models.
VOCABULARY = sorted(
    {
        *Config.model_fields,
        "host", "port", "password", "url", "tokens", "token", "role", "name", "code",
        "skills", "escalation", "after", "levels", "drop_language", "add_queues", "passive",
        "waiting", "wait_seconds", "wrap_up_seconds", "ring_timeout", "no_answer", "state",
        "announcements", "every", "repeat", "agents_min", "moh", "ringback", "whisper",
        "pin", "pin_sha256", "contact", "queues", "support", "sales", "1001", "billing",
        "pause_reasons", "1", "id_digits", "language", "languages", "aht", "initial",
    }
)  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["sv", "en", "user/1001", "local_stream://moh", "1234", "support"]),
)
keys = st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=12))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=30,
)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(text: str) -> Config | InvalidConfigError:
    try:
        return parse_config(text, "random.yaml")
    except InvalidConfigError as error:
        assert error.problems, "an error without problems"
        assert str(error).startswith("random.yaml: ")
        for problem in error.problems:
            assert problem.reason
        return error


@PROPERTY
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    _outcome(text)


@PROPERTY
@given(st.dictionaries(keys, values, max_size=8))
def test_random_mappings(data: dict[str, Any]) -> None:
    _outcome(yaml.safe_dump(data, allow_unicode=True))


def _places(data: Any, loc: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [loc]
    if isinstance(data, dict):
        for key, value in data.items():
            found.extend(_places(value, (*loc, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(_places(value, (*loc, index)))
    return found


PLACES = _places(EXAMPLE_DATA)[1:]


@PROPERTY
@given(
    st.sampled_from(PLACES),
    st.one_of(values, st.just("__delete__")),
)
def test_one_change_to_the_example(place: tuple[Any, ...], value: Any) -> None:
    """Change (or delete) one value anywhere in the example: either a Config whose routing
    objects and ESL settings all build (validation let nothing through that the router or
    the client would refuse), or problems that each name a place."""
    data = copy.deepcopy(EXAMPLE_DATA)
    holder = data
    for part in place[:-1]:
        holder = holder[part]
    if value == "__delete__":
        del holder[place[-1]]
    else:
        holder[place[-1]] = value
    outcome = _outcome(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    if isinstance(outcome, InvalidConfigError):
        assert all(problem.line is not None or problem.path for problem in outcome.problems)
    else:
        outcome.esl.client_settings()
        for queue in outcome.queues.values():
            queue.routing_config()
        for agent in outcome.agents.values():
            agent.routing_profile()
