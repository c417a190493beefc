// The wallboard page: polls /wallboard/data every refresh_seconds and draws the queues,
// their colours (computed by the server from the configured thresholds), the agents and a
// last-hour chart as inline SVG. Plain JS, no build step. Query parameters: token (passed
// on to /wallboard/data), lang (sv|en, overrides the configuration).
"use strict";

(function () {
  const LABELS = {
    sv: {
      title: "Köer just nu",
      waiting: "Väntar",
      longest_wait: "Längsta väntetid",
      service_level: "Servicenivå idag",
      latest_wait: "Senaste väntetid",
      average_wait: "Snittväntetid idag",
      answered: "Besvarade idag",
      abandoned: "Avbrutna idag",
      logged_in: "Inloggade",
      free: "Lediga",
      busy: "Upptagna",
      wrap_up: "Efterarb.",
      paused: "Paus",
      agents: "Agenter",
      chart: "Senaste timmen:",
      chart_waiting: "väntande",
      chart_level: "servicenivå",
      no_agents: "Inga agenter inloggade",
      stale: "Inaktuella siffror: ingen kontakt med servern",
      unauthorized: "Ogiltig eller saknad token (lägg till ?token=… i adressen)",
      state: { free: "ledig", busy: "upptagen", wrap_up: "efterarbete", paused: "paus" },
    },
    en: {
      title: "Queues now",
      waiting: "Waiting",
      longest_wait: "Longest wait",
      service_level: "Service level today",
      latest_wait: "Latest wait",
      average_wait: "Average wait today",
      answered: "Answered today",
      abandoned: "Abandoned today",
      logged_in: "Logged in",
      free: "Free",
      busy: "Busy",
      wrap_up: "Wrap-up",
      paused: "Paused",
      agents: "Agents",
      chart: "Last hour:",
      chart_waiting: "waiting",
      chart_level: "service level",
      no_agents: "No agents logged in",
      stale: "Stale figures: no contact with the server",
      unauthorized: "Invalid or missing token (add ?token=… to the address)",
      state: { free: "free", busy: "busy", wrap_up: "wrap-up", paused: "paused" },
    },
  };

  const params = new URLSearchParams(window.location.search);
  const token = params.get("token");
  const forcedLang = params.get("lang");
  const dataUrl = "/wallboard/data" + (token ? "?token=" + encodeURIComponent(token) : "");
  let refreshMs = 2000;
  let lang = forcedLang in LABELS ? forcedLang : "sv";

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const rest = String(s % 60).padStart(2, "0");
    return h > 0 ? h + ":" + String(m).padStart(2, "0") + ":" + rest : m + ":" + rest;
  }

  function percent(ratio) {
    return ratio === null || ratio === undefined ? "–" : Math.round(ratio * 100) + " %";
  }

  function figure(key, size, value, colour) {
    const L = LABELS[lang];
    const node = el("div", "figure " + size + (colour ? " c-" + colour : ""));
    node.dataset.figure = key;
    if (colour) node.dataset.colour = colour;
    node.appendChild(el("span", "label", L[key]));
    node.appendChild(el("span", "value", String(value)));
    return node;
  }

  function row(children, kind) {
    const node = el("div", kind ? "row " + kind : "row");
    children.forEach((child) => node.appendChild(child));
    return node;
  }

  const SVG = "http://www.w3.org/2000/svg";

  // Waiting (solid, scaled to the hour's maximum) and service level (dashed, 0..100 %)
  // over the last hour, as polylines in a 300x60 box.
  function chart(series, at) {
    const L = LABELS[lang];
    const box = el("div", "chart");
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 300 60");
    svg.setAttribute("preserveAspectRatio", "none");
    const frame = document.createElementNS(SVG, "rect");
    frame.setAttribute("class", "chart-frame");
    frame.setAttribute("x", "0");
    frame.setAttribute("y", "0");
    frame.setAttribute("width", "300");
    frame.setAttribute("height", "60");
    svg.appendChild(frame);
    const start = at - 3600;
    const x = (t) => (Math.max(0, t - start) / 3600) * 300;
    const top = Math.max(1, ...series.map((p) => p.waiting));
    const lines = [
      ["line-waiting", series.map((p) => [x(p.at), 58 - (p.waiting / top) * 54])],
      [
        "line-level",
        series
          .filter((p) => p.service_level !== null)
          .map((p) => [x(p.at), 58 - p.service_level * 54]),
      ],
    ];
    lines.forEach(([cls, points]) => {
      if (points.length === 1) points.push([points[0][0] + 1, points[0][1]]);
      if (points.length === 0) return;
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("class", cls);
      line.setAttribute("points", points.map((p) => p[0].toFixed(1) + "," + p[1].toFixed(1)).join(" "));
      svg.appendChild(line);
    });
    box.appendChild(svg);
    const legend = el("div", "legend", L.chart + " ");
    legend.appendChild(el("span", "w", "— " + L.chart_waiting + " (max " + top + ")"));
    legend.appendChild(document.createTextNode("  "));
    legend.appendChild(el("span", "s", "- - " + L.chart_level));
    box.appendChild(legend);
    return box;
  }

  function tile(q, at) {
    const c = q.colours;
    const node = el("article", "tile c-" + q.colour);
    node.dataset.queue = q.name;
    node.dataset.colour = q.colour;
    node.appendChild(el("h3", "", q.name));
    node.appendChild(
      row([
        figure("waiting", "big", q.waiting),
        figure("longest_wait", "big", duration(q.longest_wait), c.longest_wait),
        figure("service_level", "big", percent(q.service_level), c.service_level),
      ], "main")
    );
    node.appendChild(
      row([
        figure("latest_wait", "small", duration(q.latest_wait), c.latest_wait),
        figure("average_wait", "small", duration(q.average_wait), c.average_wait),
        figure("answered", "small", q.answered),
        figure("abandoned", "small", q.abandoned),
      ], "today")
    );
    const a = q.agents;
    node.appendChild(
      row([
        figure("logged_in", "small", a.logged_in, c.agents_logged_in),
        figure("free", "small", a.free),
        figure("busy", "small", a.busy),
        figure("wrap_up", "small", a.wrap_up),
        figure("paused", "small", a.paused),
      ])
    );
    node.appendChild(chart(q.series, at));
    return node;
  }

  function agentChip(agent) {
    const L = LABELS[lang];
    const node = el("span", "agent s-" + agent.state);
    node.dataset.agent = agent.id;
    node.dataset.state = agent.state;
    const who = agent.name ? agent.name + " (" + agent.id + ")" : agent.id;
    const what = L.state[agent.state] + (agent.reason ? ": " + agent.reason : "");
    node.appendChild(document.createTextNode(who + " · " + what));
    node.appendChild(el("span", "time", duration(agent.seconds)));
    return node;
  }

  function draw(data) {
    if (!(forcedLang in LABELS) && data.language in LABELS) lang = data.language;
    const L = LABELS[lang];
    document.documentElement.lang = lang;
    document.getElementById("title").textContent = L.title;
    document.getElementById("agents-title").textContent = L.agents;
    const queues = document.getElementById("queues");
    const count = data.queues.length;
    queues.style.setProperty("--cols", count <= 1 ? 1 : count <= 4 ? 2 : 3);
    queues.replaceChildren(...data.queues.map((q) => tile(q, data.at)));
    const agents = document.getElementById("agents");
    agents.replaceChildren(
      ...(data.agents.length ? data.agents.map(agentChip) : [el("span", "", L.no_agents)])
    );
    refreshMs = Math.max(500, data.refresh_seconds * 1000);
  }

  function setStatus(text, stale) {
    const status = document.getElementById("status");
    status.textContent = text;
    status.classList.toggle("stale", stale);
    document.body.dataset.stale = stale ? "true" : "false";
  }

  async function poll() {
    try {
      const reply = await fetch(dataUrl, { cache: "no-store" });
      if (reply.status === 401) {
        setStatus(LABELS[lang].unauthorized, true);
      } else if (!reply.ok) {
        setStatus(LABELS[lang].stale, true);
      } else {
        draw(await reply.json());
        setStatus("", false);
        document.body.dataset.updated = String(Date.now());
      }
    } catch (error) {
      setStatus(LABELS[lang].stale, true);
    }
    window.setTimeout(poll, refreshMs);
  }

  function tick() {
    document.getElementById("clock").textContent = new Date().toLocaleTimeString(
      lang === "sv" ? "sv-SE" : "en-GB"
    );
  }

  document.addEventListener("DOMContentLoaded", () => {
    tick();
    window.setInterval(tick, 1000);
    poll();
  });
})();
