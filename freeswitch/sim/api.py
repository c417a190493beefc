"""The ``api``/``bgapi`` commands the simulator answers, with FreeSWITCH's exact texts.

Reply texts are copied from the recordings (s02, s03, s05, s06, s07, s09b); note that
the same fault reads differently per command: ``uuid_bridge`` says ``-ERR Invalid uuid``,
``uuid_broadcast`` ``-ERR invalid uuid``, most others ``-ERR No such channel!``;
``uuid_exists`` and ``uuid_getvar`` answer without a newline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from freeswitch.sim.applications import AppRequest
from freeswitch.sim.channels import Channel
from freeswitch.sim.core import created_text
from freeswitch.sim.sounds import separate_string
from freeswitch.sim.templates import FREESWITCH_VERSION, Q850, STATUS_VERSION_LINE
from freeswitch.wire import url_encode

if TYPE_CHECKING:
    from freeswitch.sim.simulator import Simulator

ApiResult = tuple[str, Callable[[], None] | None]
NO_CHANNEL = "-ERR No such channel!\n"


class Api:
    """Dispatches one api command line; returns None for an unknown command."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.core = sim.core
        self.handlers: dict[str, Callable[[str], ApiResult]] = {
            "echo": lambda args: (args, None),
            "fsctl": self.fsctl,
            "global_getvar": self.global_getvar,
            "hupall": self.hupall,
            "originate": self.sim.originator.originate,
            "show": self.show,
            "status": self.status,
            "uuid_answer": self.uuid_answer,
            "uuid_break": self.uuid_break,
            "uuid_bridge": self.uuid_bridge,
            "uuid_broadcast": self.uuid_broadcast,
            "uuid_dump": self.uuid_dump,
            "uuid_exists": self.uuid_exists,
            "uuid_getvar": self.uuid_getvar,
            "uuid_kill": self.uuid_kill,
            "uuid_park": self.uuid_park,
            "uuid_recv_dtmf": self.uuid_recv_dtmf,
            "uuid_send_dtmf": self.uuid_send_dtmf,
            "uuid_setvar": self.uuid_setvar,
            "uuid_transfer": self.uuid_transfer,
            "version": lambda args: (f"FreeSWITCH Version {FREESWITCH_VERSION}\n", None),
        }

    def execute(self, command: str, args: str) -> ApiResult | None:
        handler = self.handlers.get(command.lower())
        if handler is None:
            return None
        text, then = handler(args)
        extra = [("API-Command", command)]
        if args:
            extra.append(("API-Command-Argument", args))
        self.core.fire(self.core.factory.plain("API", extra))
        return text, then

    def _channel(self, args: str, parts: int) -> tuple[Channel | None, list[str]]:
        argv = separate_string(args, parts)
        return (self.core.find(argv[0]) if argv else None), argv

    # -- channel commands -----------------------------------------------------------
    def uuid_exists(self, args: str) -> ApiResult:
        ch, _ = self._channel(args, 1)
        return ("true" if ch is not None else "false"), None

    def uuid_kill(self, args: str) -> ApiResult:
        ch, argv = self._channel(args, 2)
        if ch is None:
            return NO_CHANNEL, None
        cause = argv[1].upper() if len(argv) > 1 else "NORMAL_CLEARING"
        self.core.hangup(ch, cause if cause in Q850 else "NORMAL_CLEARING")
        return "+OK\n", None

    def uuid_answer(self, args: str) -> ApiResult:
        ch, _ = self._channel(args, 1)
        if ch is None:
            return NO_CHANNEL, None
        self.core.answer(ch)
        return "+OK\n", None

    def uuid_bridge(self, args: str) -> ApiResult:
        argv = separate_string(args, 2)
        if len(argv) < 2:
            return "-USAGE: <uuid> <other_uuid>\n", None
        a, b = self.core.find(argv[0]), self.core.find(argv[1])
        if a is None or b is None or a is b or not (a.is_up and b.is_up):
            return "-ERR Invalid uuid\n", None
        self.core.bridge(a, b)
        return f"+OK {b.uuid}\n", None

    def uuid_break(self, args: str) -> ApiResult:
        ch, argv = self._channel(args, 2)
        if ch is None:
            return NO_CHANNEL, None
        self.core.break_playback(ch, flush=len(argv) > 1 and argv[1].lower() == "all")
        return "+OK\n", None

    def uuid_broadcast(self, args: str) -> ApiResult:
        argv = separate_string(args, 4)
        if len(argv) < 2:
            return "-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n", None
        ch = self.core.find(argv[0])
        if ch is None:
            return "-ERR invalid uuid\n", None
        path = argv[1]
        app, sep, data = path.partition("::")
        if not sep:
            app, data = "playback", path
        leg = argv[2].lower() if len(argv) > 2 else "aleg"
        targets: list[Channel] = []
        other = self.core.other(ch)
        if ("bleg" in leg or "both" in leg) and other is not None and ch.bridged:
            targets.append(other)
        if "aleg" in leg or "both" in leg or not targets:
            targets.append(ch)
        for target in targets:
            command = self.core.factory.base("COMMAND")
            message = [
                ("call-command", "execute"),
                ("execute-app-name", app),
                ("execute-app-arg", data),
                ("event-lock", "true"),
                ("lead-frames", "5"),
            ]
            self.core.enqueue(target, AppRequest(app, data, private_prefix=command + message))
        return "+OK Message sent\n", None

    def uuid_setvar(self, args: str) -> ApiResult:
        ch, argv = self._channel(args, 3)
        if len(argv) < 2:
            return "-USAGE: <uuid> <var> [value]\n", None
        if ch is None:
            return NO_CHANNEL, None
        ch.set_variable(argv[1], argv[2] if len(argv) > 2 and argv[2] != "" else None)
        return "+OK\n", None

    def uuid_getvar(self, args: str) -> ApiResult:
        ch, argv = self._channel(args, 2)
        if len(argv) < 2:
            return "-USAGE: <uuid> <var>\n", None
        if ch is None:
            return NO_CHANNEL, None
        return ch.variables.get(argv[1], "_undef_"), None

    def uuid_dump(self, args: str) -> ApiResult:
        ch, argv = self._channel(args, 2)
        if ch is None:
            return NO_CHANNEL, None
        event = self.core.factory.channel("CHANNEL_DATA", ch, self.core.other(ch))
        if len(argv) > 1 and argv[1].lower() == "json":
            return json.dumps(dict(event.headers), ensure_ascii=False, separators=(",", ":")), None
        return "".join(f"{name}: {url_encode(value)}\n" for name, value in event.headers), None

    def uuid_park(self, args: str) -> ApiResult:
        ch, _ = self._channel(args, 1)
        if ch is None:
            return NO_CHANNEL, None
        self.core.spawn(self.core.transfer_to_park, ch)
        return "+OK\n", None

    def uuid_transfer(self, args: str) -> ApiResult:
        ch, argv = self._channel(args, 5)
        if ch is None:
            return NO_CHANNEL, None
        rest = [a for a in argv[1:] if a not in ("-bleg", "-both")]
        if not rest:
            return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n", None
        self.core.spawn(self.sim.transfer, ch, rest[0])
        return "+OK\n", None

    def uuid_recv_dtmf(self, args: str) -> ApiResult:
        ch, argv = self._channel(args, 2)
        if ch is None or len(argv) < 2:
            return NO_CHANNEL, None
        self.core.spawn(self.core.press_dtmf, ch, argv[1])
        return "+OK\n", None

    def uuid_send_dtmf(self, args: str) -> ApiResult:
        ch, _ = self._channel(args, 2)
        return ("+OK\n" if ch is not None else NO_CHANNEL), None

    # -- system commands --------------------------------------------------------------
    def hupall(self, args: str) -> ApiResult:
        cause = (args.split() or ["NORMAL_CLEARING"])[0].upper()
        self.core.hangup_all(cause)
        return f"+OK hangup all channels with cause {cause}\n", None

    def global_getvar(self, args: str) -> ApiResult:
        values = {
            "core_uuid": self.core.factory.core_uuid,
            "hostname": self.core.factory.hostname,
            "switchname": self.core.factory.hostname,
            "local_ip_v4": self.core.factory.ipv4,
        }
        name = args.strip()
        if not name:
            return "".join(f"{k}={v}\n" for k, v in values.items()), None
        return values.get(name, ""), None

    def fsctl(self, args: str) -> ApiResult:
        return "+OK\n", None

    def status(self, args: str) -> ApiResult:
        up = time.time() - self.core.factory.started
        days, rem = divmod(int(up), 86400)
        hours, rem = divmod(rem, 3600)
        minutes, seconds = divmod(rem, 60)
        micro = int((up - int(up)) * 1_000_000)

        def unit(n: int, word: str) -> str:
            return f"{n} {word}{'' if n == 1 else 's'}"

        count = sum(1 for ch in self.core.channels.values() if not ch.destroyed)
        text = (
            f"UP {unit(0, 'year')}, {unit(days, 'day')}, {unit(hours, 'hour')}, "
            f"{unit(minutes, 'minute')}, {unit(seconds, 'second')}, "
            f"{unit(micro // 1000, 'millisecond')}, {unit(micro % 1000, 'microsecond')}\n"
            f"{STATUS_VERSION_LINE}\n"
            f"{self.core.sessions_since_start} session(s) since startup\n"
            f"{count} session(s) - peak {count}, last 5min {count} \n"
            "0 session(s) per Sec out of max 2000, peak 0, last 5min 0 \n"
            "4000 session(s) max\nmin idle cpu 0.00/95.00\nCurrent Stack Size/Max 240K/8192K\n"
        )
        return text, None

    def show(self, args: str) -> ApiResult:
        words = args.lower().split()
        as_json = words[-2:] == ["as", "json"]
        what = words[0] if words else ""
        if what not in ("channels", "calls"):
            return "-USAGE: show channels|calls [as json]\n", None
        if len(words) > 1 and words[1] == "count":
            count = len(self._live())
            return f"\n{count} total.\n", None
        rows = self._channel_rows() if what == "channels" else self._call_rows()
        if as_json:
            if not rows:
                return '{"row_count": 0}\n', None
            body = {"row_count": len(rows), "rows": rows}
            return json.dumps(body, ensure_ascii=False, separators=(",", ":")), None
        if not rows:
            return "\n0 total.\n", None
        header = ",".join(rows[0].keys())
        lines = [",".join(row.values()) for row in rows]
        return header + "\n" + "\n".join(lines) + f"\n\n{len(rows)} total.\n", None

    def _live(self) -> list[Channel]:
        live = [ch for ch in self.core.channels.values() if not ch.destroyed]
        return sorted(live, key=lambda ch: ch.created_us)

    def _channel_rows(self) -> list[dict[str, str]]:
        hostname = self.core.factory.hostname
        return [ch.show_row(hostname, created_text(ch.created_us)) for ch in self._live()]

    def _call_rows(self) -> list[dict[str, str]]:
        keys = [
            "uuid",
            "direction",
            "created",
            "created_epoch",
            "name",
            "state",
            "cid_name",
            "cid_num",
            "ip_addr",
            "dest",
            "presence_id",
            "presence_data",
            "accountcode",
            "callstate",
            "callee_name",
            "callee_num",
            "callee_direction",
            "call_uuid",
            "hostname",
            "sent_callee_name",
            "sent_callee_num",
        ]
        b_keys = [k for k in keys if k not in ("call_uuid", "hostname")]
        rows = []
        for ch in self._live():
            if ch.bridged and ch.uuid == ch.bridge_b:
                continue
            row = ch.show_row(self.core.factory.hostname, created_text(ch.created_us))
            call = {k: row[k] for k in keys}
            partner = self.core.other(ch) if ch.bridged else None
            b_row = (
                partner.show_row(self.core.factory.hostname, created_text(partner.created_us))
                if partner is not None
                else None
            )
            for key in b_keys:
                call[f"b_{key}"] = b_row[key] if b_row is not None else ""
            call["call_created_epoch"] = str(ch.bridged_us // 1_000_000) if b_row else ""
            rows.append(call)
        return rows
