"""A :class:`wallboard.report.Report` as JSON, CSV or one self-contained HTML page.

All three carry the same figures (see :mod:`wallboard.report` for what each means):
counts, ``service_level`` as a ratio 0..1, seconds rounded to milliseconds, and ``null`` /
an empty CSV cell where a figure is undefined (no call to average over). Half hours are
named by their local start and end as ISO 8601 with the offset
(``2026-10-25T02:00:00+01:00``), so the hour repeated when the clocks go back stays two
distinct rows. Every half hour of the period has a row (zeros included); a row cut by the
period's start or end shows only its part inside the period (its ``start`` or ``end`` is
the period's ``from`` or ``to``).

JSON::

    {"from": ISO, "to": ISO, "time_zone": "Europe/Stockholm",
     "percentile": "p90 nearest-rank", "skipped_entries": 0,
     "queues": {QUEUE: {"target_seconds": 20.0, "short_abandon_seconds": 5.0,
                        "half_hours": [{"start": ISO, "end": ISO, FIGURES}, ...],
                        "total": {FIGURES}}},
     "total": {FIGURES},
     "agents": {AGENT: {"answered": N, "completed": N, "in_progress": N,
                        "talk_seconds": S, "wrap_up_seconds": S,
                        "average_talk_seconds": S | null, "handle_known": N,
                        "average_handle_seconds": S | null}}}

    FIGURES = offered, transferred_in, answered, answered_within_target, abandoned,
              abandoned_short, in_progress, service_level, average_wait_seconds,
              p90_wait_seconds, completed, average_talk_seconds, handle_known,
              average_handle_seconds

``in_progress``: answered, not completed by ``to`` (counted answered, left out of talk and
AHT). ``average_talk_seconds``: bridge to hang-up of the completed calls.
``average_handle_seconds`` (AHT): talk + wrap-up taken, over the ``handle_known``
completed calls whose wrap-up is known (:mod:`wallboard.report`).

CSV: one table with one header (:data:`CSV_COLUMNS`); the ``row`` column says what a row
is: ``half_hour`` (one queue, one half hour; every half hour of the period),
``queue_total`` (one queue over the period), ``total`` (all queues), ``agent`` (one agent
over the period: the agent figures of the JSON form). Cells that do not apply to a row are
empty.

HTML: the totals, the agents and the half hours as tables, and two inline SVG plots
(matplotlib, Agg): calls answered and abandoned per half hour, and the service level per
half hour for each queue.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from wallboard.report import HALF_HOUR, PERCENTILE, AgentTally, Report, Tally

FIGURE_NAMES: tuple[tuple[str, str], ...] = (
    # (name in Tally.figures(), name in the output)
    ("offered", "offered"),
    ("transferred_in", "transferred_in"),
    ("answered", "answered"),
    ("answered_within_target", "answered_within_target"),
    ("abandoned", "abandoned"),
    ("abandoned_short", "abandoned_short"),
    ("in_progress", "in_progress"),
    ("service_level", "service_level"),
    ("average_wait", "average_wait_seconds"),
    ("p90_wait", "p90_wait_seconds"),
    ("completed", "completed"),
    ("average_talk", "average_talk_seconds"),
    ("handle_known", "handle_known"),
    ("average_handle", "average_handle_seconds"),
)
AGENT_FIGURES: tuple[str, ...] = (
    "answered",
    "completed",
    "in_progress",
    "talk_seconds",
    "wrap_up_seconds",
    "average_talk_seconds",
    "handle_known",
    "average_handle_seconds",
)
CSV_COLUMNS: tuple[str, ...] = (
    "row",
    "queue",
    "agent",
    "start",
    "end",
    *(name for _, name in FIGURE_NAMES),
    "talk_seconds",
    "wrap_up_seconds",
)
FORMATS = ("csv", "json", "html")


def _round(value: int | float | None, places: int = 3) -> int | float | None:
    return round(value, places) if isinstance(value, float) else value


def figures(tally: Tally) -> dict[str, int | float | None]:
    """``tally``'s figures under their output names, rounded (ratios to 6 places, seconds
    to milliseconds)."""
    raw = tally.figures()
    return {
        out: _round(raw[name], 6 if name == "service_level" else 3) for name, out in FIGURE_NAMES
    }


def _agent(tally: AgentTally) -> dict[str, int | float | None]:
    average = tally.talk_seconds / tally.completed if tally.completed else None
    handle = sum(tally.handles) / len(tally.handles) if tally.handles else None
    return {
        "answered": tally.answered,
        "completed": tally.completed,
        "in_progress": tally.in_progress,
        "talk_seconds": round(tally.talk_seconds, 3),
        "wrap_up_seconds": round(tally.wrap_up_seconds, 3),
        "average_talk_seconds": _round(average),
        "handle_known": len(tally.handles),
        "average_handle_seconds": _round(handle),
    }


def _iso(at: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at, zone).isoformat()


def _span(start: float, report: Report) -> tuple[str, str]:
    # A half hour is 1,800 s of real time whatever the clocks do (offsets change on hours);
    # a row cut by the period shows only its part inside it.
    options = report.options
    first = max(start, options.start)
    last = min(start + HALF_HOUR * 60, options.end)
    return _iso(first, options.zone), _iso(last, options.zone)


def to_data(report: Report) -> dict[str, Any]:
    """The JSON shape of the module docstring, as plain Python values."""
    options = report.options
    zone = options.zone
    queues: dict[str, Any] = {}
    for queue in sorted(report.half_hours):
        rows = []
        for start, tally in sorted(report.half_hours[queue].items()):
            first, last = _span(start, report)
            rows.append({"start": first, "end": last, **figures(tally)})
        rule = options.target(queue)
        queues[queue] = {
            "target_seconds": rule.target_seconds,
            "short_abandon_seconds": rule.short_abandon_seconds,
            "half_hours": rows,
            "total": figures(report.queue_total(queue)),
        }
    return {
        "from": _iso(options.start, zone),
        "to": _iso(options.end, zone),
        "time_zone": str(zone.key),
        "percentile": f"p{PERCENTILE} nearest-rank",
        "skipped_entries": report.skipped,
        "queues": queues,
        "total": figures(report.total()),
        "agents": {agent: _agent(report.agents[agent]) for agent in sorted(report.agents)},
    }


def to_json(report: Report) -> str:
    """The report as JSON (UTF-8 text, one trailing newline)."""
    return json.dumps(to_data(report), indent=2, ensure_ascii=False) + "\n"


def to_csv(report: Report) -> str:
    """The report as one CSV table (:data:`CSV_COLUMNS`; see the module docstring)."""
    data = to_data(report)
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, restval="", lineterminator="\n")
    writer.writeheader()
    for queue, entry in data["queues"].items():
        for row in entry["half_hours"]:
            writer.writerow(_cells({"row": "half_hour", "queue": queue, **row}))
    for queue, entry in data["queues"].items():
        writer.writerow(_cells({"row": "queue_total", "queue": queue, **entry["total"]}))
    writer.writerow(_cells({"row": "total", **data["total"]}))
    for agent, entry in data["agents"].items():
        writer.writerow(_cells({"row": "agent", "agent": agent, **entry}))
    return out.getvalue()


def _cells(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: "" if v is None else v for k, v in row.items()}


# ------------------------------------------------------------------ HTML

NOTHING = "\N{EN DASH}"  # shown for a figure with nothing to average over

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child, td.name { text-align: left; }
th { background: #f0f0f0; }
figure { margin: 1em 0; }
figure svg { max-width: 100%; height: auto; }
"""

_HEADINGS = {
    "offered": "offered",
    "transferred_in": "transferred in",
    "answered": "answered",
    "answered_within_target": "within target",
    "abandoned": "abandoned",
    "abandoned_short": "short abandons",
    "in_progress": "in progress at end",
    "service_level": "service level",
    "average_wait_seconds": "avg wait (s)",
    "p90_wait_seconds": "p90 wait (s)",
    "completed": "completed",
    "average_talk_seconds": "avg talk (s)",
    "handle_known": "AHT calls",
    "average_handle_seconds": "AHT (s)",
}
_AGENT_HEADINGS = {
    "answered": "answered",
    "completed": "completed",
    "in_progress": "in progress at end",
    "talk_seconds": "talk (s)",
    "wrap_up_seconds": "wrap-up (s)",
    "average_talk_seconds": "avg talk (s)",
    "handle_known": "AHT calls",
    "average_handle_seconds": "AHT (s)",
}


def _cell(name: str, value: Any) -> str:
    if value is None:
        return f"<td>{NOTHING}</td>"
    if name == "service_level":
        return f"<td>{value * 100:.1f} %</td>"
    if isinstance(value, float):
        return f"<td>{value:.1f}</td>"
    return f"<td>{html.escape(str(value))}</td>"


def _table(first: str, rows: list[tuple[str, Mapping[str, Any]]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in (first, *_HEADINGS.values()))
    body = "".join(
        f'<tr><td class="name">{html.escape(label)}</td>'
        + "".join(_cell(name, row.get(name)) for name in _HEADINGS)
        + "</tr>"
        for label, row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def to_html(report: Report) -> str:
    """The report as one self-contained HTML page: tables and inline SVG plots, no
    external file, script or font."""
    data = to_data(report)
    zone = report.options.zone
    title = f"ACD report {data['from']} {NOTHING} {data['to']}"
    totals = [(queue, entry["total"]) for queue, entry in data["queues"].items()]
    totals.append(("all queues", data["total"]))
    agents = "".join(
        f'<tr><td class="name">{html.escape(agent)}</td>'
        + "".join(_cell(name, a[name]) for name in _AGENT_HEADINGS)
        + "</tr>"
        for agent, a in data["agents"].items()
    )
    agent_head = "".join(f"<th>{html.escape(h)}</th>" for h in _AGENT_HEADINGS.values())
    halves = "".join(
        f"<h3>{html.escape(queue)} (target {entry['target_seconds']:g} s, short abandons "
        f"{entry['short_abandon_seconds']:g} s or less)</h3>"
        + _table(
            "half hour",
            [
                (datetime.fromisoformat(row["start"]).strftime("%Y-%m-%d %H:%M %z"), row)
                for row in entry["half_hours"]
            ],
        )
        for queue, entry in data["queues"].items()
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Time zone {html.escape(data['time_zone'])}. Service level: answered within the "
        "queue's target / (answered + abandoned - short abandons, at or under the queue's "
        "short-abandon seconds). "
        f"Wait percentile: {html.escape(data['percentile'])}. Each figure is counted in the "
        "half hour its event happened. Talk: bridge to hang-up of completed calls. AHT "
        "(average handle time) = talk + the wrap-up taken, over the completed calls whose "
        "wrap-up is known (AHT calls). A call answered and still in progress at the end "
        "of the period counts as answered, not in talk or AHT. A half hour cut by the "
        "period's start or end shows only its part inside the period.</p>",
        "<h2>Per queue</h2>",
        _table("queue", totals),
        "<h2>Per agent</h2>",
        f"<table><tr><th>agent</th>{agent_head}</tr>{agents}</table>",
        "<h2>Plots</h2>",
        _plots(report, zone),
        "<h2>Per half hour</h2>",
        halves,
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _plots(report: Report, zone: ZoneInfo) -> str:
    """Two figures as inline SVG: calls per half hour (all queues; answered and abandoned
    stacked) and service level per half hour (one line per queue)."""
    # Imported here: only the HTML form needs matplotlib (and it takes a while to load).
    from matplotlib import dates as mdates  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    def days(at: float) -> float:  # matplotlib's date numbers
        return float(mdates.date2num(datetime.fromtimestamp(at, zone)))  # type: ignore[no-untyped-call]

    def new_axes(title: str, unit: str) -> tuple[Any, Any]:
        figure = Figure(figsize=(10, 3.5))
        axes = figure.add_subplot()
        axes.set_title(title)
        axes.set_ylabel(unit)
        axes.set_xlim(days(report.options.start), days(report.options.end))  # the whole period
        locator = mdates.AutoDateLocator(tz=zone)  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=zone))  # type: ignore[no-untyped-call]
        return figure, axes

    slots: dict[float, Tally] = {}
    for per_queue in report.half_hours.values():
        for start, tally in per_queue.items():
            slots.setdefault(start, Tally()).add(tally)
    starts = sorted(slots)
    times = [days(s) for s in starts]
    answered = [slots[s].answered for s in starts]
    abandoned = [slots[s].abandoned for s in starts]
    width = HALF_HOUR / (24 * 60)  # in days, as matplotlib's dates
    calls, axes = new_axes("Calls per half hour (all queues)", "calls")
    axes.bar(times, answered, width=width, align="edge", label="answered", color="#2e7d32")
    axes.bar(
        times,
        abandoned,
        width=width,
        align="edge",
        bottom=answered,
        label="abandoned",
        color="#c62828",
    )
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside, never over bars

    level, axes = new_axes("Service level per half hour", "%")
    for queue in sorted(report.half_hours):
        xs: list[float] = []
        ys: list[float] = []
        previous = None
        for start, tally in sorted(report.half_hours[queue].items()):
            value = tally.figures()["service_level"]
            if value is None:
                continue
            if previous is not None and start - previous > HALF_HOUR * 60:
                xs.append(days(start))  # a gap: the line stops rather than bridge hours
                ys.append(math.nan)
            xs.append(days(start + HALF_HOUR * 60 / 2))  # the middle of its half hour
            ys.append(value * 100)
            previous = start
        if xs:
            # "$" would start matplotlib's math text; "_" first would hide the legend entry
            axes.plot(xs, ys, marker="o", label=" " + queue.replace("$", r"\$"))
    axes.set_ylim(0, 105)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return "".join(
        f'<figure role="img" aria-label="{html.escape(label)}">{_svg(figure, name)}</figure>'
        for label, figure, name in (
            ("Calls answered and abandoned per half hour", calls, "calls"),
            ("Service level per half hour", level, "level"),
        )
    )


def _svg(figure: Any, name: str) -> str:
    from matplotlib import rc_context  # noqa: PLC0415

    out = io.StringIO()
    # Text stays text (small, searchable); ids are salted with ``name`` so two plots in one
    # page never share one, and stable (as the dropped date) so same figures, same page.
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": f"acd-report-{name}"}):
        figure.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = out.getvalue()
    # Inline SVG needs neither the XML declaration nor the DOCTYPE.
    return text[text.index("<svg") :]


def render(report: Report, form: str) -> str:
    """``report`` in ``form`` (one of :data:`FORMATS`); raises ``ValueError`` otherwise."""
    if form == "json":
        return to_json(report)
    if form == "csv":
        return to_csv(report)
    if form == "html":
        return to_html(report)
    raise ValueError(f"unknown report format: {form!r}")
