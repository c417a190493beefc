"""Dialplan applications as the simulator runs them, one greenlet per running application.

An application runs in its own greenlet and waits through :meth:`AppRun.wait`, which
returns early with the reason when something interrupts it: ``"break"`` (uuid_break),
``"hangup"`` or ``"transfer"`` (uuid_bridge, uuid_park, uuid_transfer). Whoever
interrupts can ``join`` the run, so the events the application still owes
(``PLAYBACK_STOP``, ``CHANNEL_EXECUTE_COMPLETE``) come out in FreeSWITCH's order.

Event patterns (from s03/s05/s06): ``CHANNEL_EXECUTE`` → [``PLAYBACK_START`` →
``PLAYBACK_STOP``]* → ``CHANNEL_EXECUTE_COMPLETE`` → ``PRIVATE_COMMAND`` (for sendmsg and
uuid_broadcast requests). ``say`` and files of a ``file_string://`` are wrapped in
``CUSTOM filestring::open/close``.
"""

from __future__ import annotations

import array
import math
import os
import re
import sys
import time
import uuid as uuid_module
import wave
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import gevent
import gevent.event

from freeswitch.sim.channels import Channel
from freeswitch.sim.sounds import PHRASE_GAP, Sound, say_files, separate_string

if TYPE_CHECKING:
    from freeswitch.sim.core import Core

Headers = list[tuple[str, str]]


@dataclass(eq=False)
class AppRequest:
    """An application to run on a channel (dialplan step, sendmsg, uuid_broadcast)."""

    app: str
    data: str = ""
    app_uuid: str = field(default_factory=lambda: str(uuid_module.uuid4()))
    # Headers put in front of PRIVATE_COMMAND once the request is done (None: no event).
    private_prefix: Headers | None = None


class AppRun:
    """A running application: its greenlet, why it was interrupted, DTMF it may read."""

    def __init__(self, request: AppRequest, time_scale: float) -> None:
        self.request = request
        self.time_scale = time_scale
        self.reason: str | None = None
        self.digits: deque[str] = deque()
        self.wants_digits = False
        # An originate run hangs up and reports its leg itself (BACKGROUND_JOB order).
        self.owns_teardown = False
        self.greenlet: gevent.Greenlet[..., None] | None = None
        self._wake = gevent.event.Event()

    def interrupt(self, reason: str) -> None:
        # A hang-up outranks a break or a transfer that is already pending.
        if self.reason is None or reason == "hangup":
            self.reason = reason
        self._wake.set()

    def push_digit(self, digit: str) -> None:
        if self.wants_digits:
            self.digits.append(digit)
            self._wake.set()

    def wait(self, seconds: float | None, wake_on_digit: bool = False) -> str | None:
        """Wait ``seconds`` (simulated); return None, or the interruption, or "dtmf"."""
        deadline = None if seconds is None else time.monotonic() + seconds * self.time_scale
        while True:
            if self.reason is not None:
                return self.reason
            if wake_on_digit and self.digits:
                return "dtmf"
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            self._wake.clear()
            self._wake.wait(remaining)

    def join(self) -> None:
        if self.greenlet is not None and self.greenlet is not gevent.getcurrent():
            self.greenlet.join()


def play_sound(
    core: Core, ch: Channel, run: AppRun, sound: Sound, digits_stop: bool = False
) -> str:
    """One PLAYBACK_START..STOP; returns "done", "break", "hangup", "transfer" or "error"."""
    if sound.error:
        ch.set_variable("current_application_response", "FILE NOT FOUND")
        return "error"
    typed = [("Playback-File-Type", sound.file_type)] if sound.file_type else []
    path = [*typed, ("Playback-File-Path", sound.path)]
    files = list(sound.files)
    if files:
        core.fire(core.factory.custom("filestring::open", [("File", files[0])]))
    core.fire(core.factory.channel("PLAYBACK_START", ch, core.other(ch), after=path))
    started = time.monotonic()
    reason: str | None = None
    if files:
        for index, name in enumerate(files):
            reason = run.wait(core.sounds.file_duration(name), wake_on_digit=digits_stop)
            if reason is not None:
                break
            core.fire(core.factory.custom("filestring::close", [("File", name)]))
            if index + 1 < len(files):
                core.fire(core.factory.custom("filestring::open", [("File", files[index + 1])]))
    else:
        reason = run.wait(sound.duration, wake_on_digit=digits_stop)
    elapsed_ms = int((time.monotonic() - started) * 1000 / max(core.time_scale, 1e-9))
    status = "break" if reason in ("break", "dtmf") else "done"
    ch.set_variable("playback_last_offset_pos", str(elapsed_ms * 8))
    ch.set_variable("playback_seconds", str(elapsed_ms // 1000))
    ch.set_variable("playback_ms", str(elapsed_ms))
    ch.set_variable("playback_samples", str(elapsed_ms * 8))
    response = "PLAYBACK ERROR" if reason == "transfer" else "FILE PLAYED"
    ch.set_variable("current_application_response", response)
    stop = [*path, ("Playback-Status", status)]
    core.fire(core.factory.channel("PLAYBACK_STOP", ch, core.other(ch), after=stop))
    return reason or "done"


def _play_steps(core: Core, ch: Channel, run: AppRun, macro: str, data: str) -> str | None:
    lang = ch.variables.get("default_language", "en")
    steps = core.sounds.phrase_steps(lang, macro, data)
    if steps is None:
        return None
    result = "done"
    for index, step in enumerate(steps):
        if index and run.wait(PHRASE_GAP) is not None:
            return run.reason
        if step.kind == "file":
            sound = core.sounds.resolve(step.data, ch.variables.get("sound_prefix"))
        else:
            files = say_files(step.data)
            if files is None:
                continue
            sound = core.sounds.say(files)
        result = play_sound(core, ch, run, sound)
        if result not in ("done", "error"):
            return result
    return result


def app_playback(core: Core, ch: Channel, run: AppRun, data: str) -> None:
    ch.set_variable("current_loop", "1")
    ch.set_variable("total_loops", "1")
    if data.startswith("phrase:"):
        _, _, rest = data.partition(":")
        macro, _, arg = rest.partition(":")
        if _play_steps(core, ch, run, macro, arg) is not None:
            ch.set_variable("current_application_response", "FILE PLAYED")
        return
    play_sound(core, ch, run, core.sounds.resolve(data, ch.variables.get("sound_prefix")))


def app_phrase(core: Core, ch: Channel, run: AppRun, data: str) -> None:
    macro, _, arg = data.partition(",")
    if _play_steps(core, ch, run, macro.strip(), arg.strip()) is not None:
        ch.set_variable("current_application_response", "PHRASE PLAYED")


def app_say(core: Core, ch: Channel, run: AppRun, data: str) -> None:
    files = say_files(data)
    if files is not None:
        play_sound(core, ch, run, core.sounds.say(files))


def app_play_and_get_digits(core: Core, ch: Channel, run: AppRun, data: str) -> None:
    """mod_dptools play_and_get_digits: min max tries timeout terminators file invalid var
    regexp digit_timeout. The result variable is set before CHANNEL_EXECUTE_COMPLETE."""
    args = separate_string(data, 11)
    if len(args) < 8:
        return
    minimum, maximum, tries, timeout_ms = (
        _int(a, d) for a, d in zip(args[:4], (0, 128, 1, 5000), strict=False)
    )
    terminators, prompt, invalid, var_name = args[4:8]
    regexp = args[8] if len(args) > 8 else ""
    digit_timeout_ms = _int(args[9], timeout_ms) if len(args) > 9 else timeout_ms
    run.wants_digits = True
    for attempt in range(max(tries, 1)):
        # switch_ivr_read clears the result variable first: a failed read never leaves
        # the previous read's digits behind.
        ch.set_variable(var_name, None)
        if prompt:
            sound = core.sounds.resolve(prompt, ch.variables.get("sound_prefix"))
            if play_sound(core, ch, run, sound, digits_stop=True) in (
                "hangup",
                "transfer",
                "break",
            ):
                return
        digits, timed_out = "", False
        while True:
            while run.digits and len(digits) < maximum:
                digit = run.digits.popleft()
                if digit in terminators:
                    break
                digits += digit
            if len(digits) >= maximum:
                break
            wait_ms = digit_timeout_ms if digits else timeout_ms
            reason = run.wait(wait_ms / 1000.0, wake_on_digit=True)
            if reason is None:
                timed_out = True
                break
            if reason != "dtmf":
                return
        if minimum <= len(digits) <= maximum and (not regexp or re.search(regexp, digits)):
            ch.set_variable("read_result", "timeout" if timed_out else "success")
            ch.set_variable(var_name, digits)
            return
        if invalid and attempt + 1 < tries:
            play_sound(
                core, ch, run, core.sounds.resolve(invalid, ch.variables.get("sound_prefix"))
            )
    ch.set_variable("read_result", "failure")


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def app_sleep(core: Core, ch: Channel, run: AppRun, data: str) -> None:
    run.wait(_int(data, 0) / 1000.0)


def app_echo(core: Core, ch: Channel, run: AppRun, data: str) -> None:
    run.wait(None)


RECORD_RATE = 8000
RECORD_TERMINATORS = "#*"


def app_record(core: Core, ch: Channel, run: AppRun, data: str) -> None:
    """mod_dptools record: ``<path> [<time_limit_secs>] [<silence_thresh>] [<silence_hits>]``.

    The simulator carries no audio: the "voice" lasts until '#' or '*' is pressed, the
    time limit passes (0: none) or the call ends; then a WAV of that length (a 440 Hz
    tone, 8 kHz mono 16-bit, as mod_sndfile writes for a narrowband call) is at ``path``.
    ``RECORD_START``/``RECORD_STOP`` carry ``Record-File-Path``; ``record_ms``/
    ``record_seconds`` are set before the stop. Like FreeSWITCH 1.10, it makes no folder:
    when the file's folder is missing, the call is hung up (``DESTINATION_OUT_OF_ORDER``,
    after mod_sndfile's "Error Opening File") and nothing is recorded."""
    args = data.split()
    if not args:
        return
    path = args[0]
    if not os.path.isdir(os.path.dirname(path) or "."):
        core.hangup(ch, "DESTINATION_OUT_OF_ORDER")
        return
    limit = _int(args[1], 0) if len(args) > 1 else 0
    run.wants_digits = True
    where = [("Record-File-Path", path)]
    core.fire(core.factory.channel("RECORD_START", ch, core.other(ch), after=where))
    started = time.monotonic()
    deadline = None if limit <= 0 else started + limit * core.time_scale
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        reason = run.wait(None if left is None else left / core.time_scale, wake_on_digit=True)
        if reason != "dtmf":
            break
        if run.digits.popleft() in RECORD_TERMINATORS:
            break
    seconds = (time.monotonic() - started) / max(core.time_scale, 1e-9)
    if limit > 0:
        seconds = min(seconds, float(limit))
    _write_tone(path, max(seconds, 0.02))
    ch.set_variable("record_ms", str(int(seconds * 1000)))
    ch.set_variable("record_seconds", str(int(seconds)))
    core.fire(core.factory.channel("RECORD_STOP", ch, core.other(ch), after=where))


def _write_tone(path: str, seconds: float) -> None:
    frames = int(seconds * RECORD_RATE)
    samples = array.array(
        "h", (int(8000 * math.sin(2 * math.pi * 440 * i / RECORD_RATE)) for i in range(frames))
    )
    if sys.byteorder == "big":
        samples.byteswap()
    try:
        with wave.open(path, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RECORD_RATE)
            out.writeframes(samples.tobytes())
    except OSError:
        pass  # FreeSWITCH logs "Error opening" and records nothing: so does the simulator


def _expand(ch: Channel, value: str) -> str:
    """``${name}`` from the channel's variables or caller profile, as FreeSWITCH expands
    application data (switch_channel_expand_variables); unknown names expand to ""."""
    profile = {
        "caller_id_number": ch.profile.caller_id_number,
        "caller_id_name": ch.profile.caller_id_name,
        "destination_number": ch.profile.destination_number,
    }

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        return ch.variables.get(name) or profile.get(name, "")

    return re.sub(r"\$\{([A-Za-z0-9_]+)\}", one, value)


def app_set(core: Core, ch: Channel, run: AppRun, data: str) -> None:
    name, sep, value = data.partition("=")
    if sep and name:
        ch.set_variable(name, _expand(ch, value) or None)


def app_answer(core: Core, ch: Channel, run: AppRun, data: str) -> None:
    core.answer(ch)


def app_ring_ready(core: Core, ch: Channel, run: AppRun, data: str) -> None:
    core.progress(ch)


def app_hangup(core: Core, ch: Channel, run: AppRun, data: str) -> None:
    core.hangup(ch, data.strip() or "NORMAL_CLEARING")


APPLICATIONS: dict[str, Callable[[Core, Channel, AppRun, str], None]] = {
    "answer": app_answer,
    "echo": app_echo,
    "hangup": app_hangup,
    "phrase": app_phrase,
    "play_and_get_digits": app_play_and_get_digits,
    "playback": app_playback,
    "record": app_record,
    "ring_ready": app_ring_ready,
    "say": app_say,
    "set": app_set,
    "sleep": app_sleep,
}


def execute(core: Core, ch: Channel, run: AppRun) -> None:
    """CHANNEL_EXECUTE, the application, CHANNEL_EXECUTE_COMPLETE (+ PRIVATE_COMMAND)."""
    request = run.request
    impl = APPLICATIONS.get(request.app)
    if impl is not None:
        data = [("Application-Data", request.data)] if request.data else []
        app = [("Application", request.app), *data]
        ch.application, ch.application_data = request.app, request.data
        ch.set_variable("current_application_data", request.data or None)
        ch.set_variable("current_application", request.app)
        uuid_header = [("Application-UUID", request.app_uuid)]
        core.fire(
            core.factory.channel("CHANNEL_EXECUTE", ch, core.other(ch), after=app + uuid_header)
        )
        impl(core, ch, run, request.data)
        response = ch.variables.get("current_application_response", "_none_")
        done = [*app, ("Application-Response", response), *uuid_header]
        core.fire(core.factory.channel("CHANNEL_EXECUTE_COMPLETE", ch, core.other(ch), after=done))
    if request.private_prefix is not None:
        core.fire(
            core.factory.channel(
                "PRIVATE_COMMAND", ch, core.other(ch), prefix=request.private_prefix
            )
        )
