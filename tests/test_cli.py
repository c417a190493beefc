"""The ``acd`` command line and the event log it shares with the demo."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from acd.adapters.translate import ENGINE_EVENTS
from acd.cli import build_parser, main
from acd.dev.watch import attach_logger
from freeswitch.client import ClientSettings, ESLClient
from freeswitch.sim import Simulator
from tests.fake_esl_server import free_port


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI configures structlog globally; put the defaults back for other tests."""
    yield
    structlog.reset_defaults()


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_demo_options_reach_the_demos_own_parser(capsys: pytest.CaptureFixture[str]) -> None:
    """``acd demo ARGS`` is ``python -m acd.dev.demo ARGS``: one parser, in the demo."""
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--agents", "many"])
    assert exit_info.value.code == 2
    assert (
        "acd demo: error: argument --agents: invalid int value: 'many'" in capsys.readouterr().err
    )


def test_demo_runs_for_its_duration_and_stops(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--duration", "0.3", "--agents", "2", "--log-json"]) == 0
    err = capsys.readouterr().err
    assert '"event": "demo.started"' in err
    assert '"event": "demo.stopped"' in err


def test_watch_reports_an_unreachable_freeswitch_as_an_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["watch", "--port", str(free_port()), "--duration", "0.1"])
    assert code == 2
    assert "esl-connection-lost: 127.0.0.1:" in capsys.readouterr().err


def test_the_event_log_shows_what_the_engine_acts_on(sim: Simulator) -> None:
    """A parked caller is logged with its queue variables (the dialplan snippet's 7000)."""
    client = ESLClient(ClientSettings("127.0.0.1", sim.port, sim.password, events=ENGINE_EVENTS))
    with capture_logs() as logs:
        attach_logger(client)
        client.connect()
        try:
            uuid = sim.place_call("0701234567", "7000")
            assert sim.wait_for(
                lambda: any(e.get("event") == "CHANNEL_PARK" for e in logs), timeout=5
            )
        finally:
            client.stop()
    park = next(e for e in logs if e.get("event") == "CHANNEL_PARK")
    assert park["uuid"] == uuid
    assert park["caller"] == "0701234567"
    assert park["destination"] == "7000"
    assert park["acd_queue"] == "support"
    assert park["acd_skills"] == "billing:3,invoice:1"
    # Only subscribed events reach the log: the dialplan's CHANNEL_EXECUTE is not one of them.
    assert not any(e.get("event") == "CHANNEL_EXECUTE" for e in logs)
