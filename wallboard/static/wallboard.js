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
      free: "lediga",
      passive: "passiva",
      busy: "upptagna",
      wrap_up: "efterarb.",
      paused: "paus",
      agents: "Agenter",
      chart_waiting: "väntande",
      chart_level: "servicenivå senaste timmen",
      chart_goal: "mål",
      chart: "Diagram, senaste timmen:",
      no_agents: "Inga agenter inloggade",
      more: (n) => "+" + n + " till",
      stale: "Inaktuella siffror: ingen kontakt med servern",
      unauthorized: "Ogiltig eller saknad token (lägg till ?token=… i adressen)",
      fallback: "siffror från motorn: Prometheus nås inte",
      state: {
        free: "ledig",
        passive: "passiv",
        busy: "upptagen",
        wrap_up: "efterarbete",
        paused: "paus",
      },
      reason: {
        "no-answer": "svarade inte",
        lunch: "lunch",
        meeting: "möte",
        training: "utbildning",
        coffee: "fika",
        break: "rast",
        admin: "administration",
      },
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
      free: "free",
      passive: "passive",
      busy: "busy",
      wrap_up: "wrap-up",
      paused: "paused",
      agents: "Agents",
      chart_waiting: "waiting",
      chart_level: "service level, last hour",
      chart_goal: "goal",
      chart: "Charts, last hour:",
      no_agents: "No agents logged in",
      more: (n) => "+" + n + " more",
      stale: "Stale figures: no contact with the server",
      unauthorized: "Invalid or missing token (add ?token=… to the address)",
      fallback: "figures from the engine: Prometheus unreachable",
      state: {
        free: "free",
        passive: "passive",
        busy: "busy",
        wrap_up: "wrap-up",
        paused: "paused",
      },
      reason: {
        "no-answer": "missed a call",
        lunch: "lunch",
        meeting: "meeting",
        training: "training",
        coffee: "coffee",
        break: "break",
        admin: "admin",
      },
    },
  };
  const STATES = ["free", "passive", "busy", "wrap_up", "paused"];

  const params = new URLSearchParams(window.location.search);
  const token = params.get("token");
  const forcedLang = params.get("lang");
  const dataUrl = "/wallboard/data" + (token ? "?token=" + encodeURIComponent(token) : "");
  let refreshMs = 2000;
  // Before the first figures: the page's own language (sv), never English by accident.
  let lang = forcedLang in LABELS ? forcedLang : document.documentElement.lang in LABELS
    ? document.documentElement.lang : "sv";
  let timeZone = null; // the board's (wallboard.time_zone), not the TV's
  let last = null;

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

  function locale() {
    return lang === "sv" ? "sv-SE" : "en-GB";
  }

  function timeFormat(options) {
    try {
      return new Intl.DateTimeFormat(locale(), { ...options, timeZone: timeZone || undefined });
    } catch (error) {
      return new Intl.DateTimeFormat(locale(), options); // an unknown zone: the TV's
    }
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

  // How many of the members logged in are in each state.
  function staff(a) {
    const L = LABELS[lang];
    const node = el("div", "staff");
    STATES.forEach((state) => {
      const count = a[state] || 0;
      if (state === "passive" && count === 0) return; // most queues have none
      const badge = el("span", "badge s-" + state + (count === 0 ? " zero" : ""));
      badge.dataset.figure = state;
      badge.appendChild(el("b", "value", String(count)));
      badge.appendChild(document.createTextNode(" " + L[state]));
      node.appendChild(badge);
    });
    return node;
  }

  function tile(q) {
    const c = q.colours;
    const node = el("article", "tile c-" + q.colour);
    node.dataset.queue = q.name;
    node.dataset.colour = q.colour;
    // The name, and the members logged in (coloured by its threshold).
    const head = el("div", "head");
    head.appendChild(el("h3", "", q.name));
    head.appendChild(figure("logged_in", "small", q.agents.logged_in, c.agents_logged_in));
    node.appendChild(head);
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
    node.appendChild(staff(q.agents));
    const chart = el("div", "chart");
    chart.dataset.chart = q.name;
    node.appendChild(chart);
    return node;
  }

  const SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, String(v)));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Runs of samples without a gap (a gap: more than 2.5 steps between two samples, e.g.
  // the engine was down), each a list of [x, y]; points without a value split runs too.
  function runs(series, value, x, y, step) {
    const out = [];
    let current = [];
    let previous = null;
    series.forEach((p) => {
      const v = value(p);
      const gap = previous !== null && p.at - previous > 2.5 * step;
      if (v === null || v === undefined || gap) {
        if (current.length) out.push(current);
        current = [];
      }
      if (v !== null && v !== undefined) current.push([x(p.at), y(v)]);
      previous = p.at;
    });
    if (current.length) out.push(current);
    return out;
  }

  // The last hour in pixels of the chart's box: waiting (solid, left axis) and the
  // service level of the rolling hour (dashed, right axis, 0..100 %), the goal dotted.
  function drawChart(box, q, at, step) {
    const width = box.clientWidth;
    const height = box.clientHeight;
    if (width < 40 || height < 30) return;
    const font = Math.max(12, window.innerHeight * 0.022);
    const series = q.series || [];
    const top = Math.max(1, ...series.map((p) => p.waiting));
    const left = font * 0.6 * String(top).length + 8;
    const right = font * 0.55 * 5 + 8;
    const bottom = font * 1.25;
    const plotW = width - left - right;
    const plotH = height - bottom - font * 0.5;
    const y0 = font * 0.5;
    const start = at - 3600;
    const x = (t) => left + (Math.min(3600, Math.max(0, t - start)) / 3600) * plotW;
    const yWait = (v) => y0 + plotH - (v / top) * plotH;
    const yLevel = (v) => y0 + plotH - v * plotH;
    const node = svg("svg", { viewBox: `0 0 ${width} ${height}`, "font-size": font });
    node.appendChild(svg("line", { class: "chart-axis", x1: left, y1: y0 + plotH, x2: left + plotW, y2: y0 + plotH }));
    node.appendChild(svg("line", { class: "chart-axis", x1: left, y1: y0, x2: left, y2: y0 + plotH }));
    node.appendChild(svg("line", { class: "chart-axis", x1: left + plotW, y1: y0, x2: left + plotW, y2: y0 + plotH }));
    // Left axis: callers waiting (0 and the hour's most).
    [0, top].forEach((v) => {
      node.appendChild(svg("text", { x: left - 6, y: yWait(v) + font * 0.35, "text-anchor": "end" }, String(v)));
    });
    // Right axis: service level 0 %, the goal (a dotted line) and 100 % where there is
    // room for its label beside the goal's.
    const goal = typeof q.goal === "number" ? q.goal : null;
    const marks = [0, 1];
    if (goal !== null) {
      const gy = yLevel(goal);
      node.appendChild(svg("line", { class: "line-goal", x1: left, y1: gy, x2: left + plotW, y2: gy }));
      marks.splice(0, 2, ...[0, 1].filter((v) => Math.abs(yLevel(v) - gy) > font), goal);
    }
    marks.forEach((v) => {
      node.appendChild(
        svg("text", { class: "level-text", x: left + plotW + 6, y: yLevel(v) + font * 0.35 }, Math.round(v * 100) + "%")
      );
    });
    // Time axis: ticks every 15 minutes, labelled an hour ago, half an hour ago and now.
    const clock = timeFormat({ hour: "2-digit", minute: "2-digit" });
    [0, 900, 1800, 2700, 3600].forEach((offset) => {
      const tx = x(start + offset);
      node.appendChild(svg("line", { class: "chart-axis", x1: tx, y1: y0 + plotH, x2: tx, y2: y0 + plotH + 5 }));
      if (offset % 1800 === 0) {
        const anchor = offset === 0 ? "start" : offset === 3600 ? "end" : "middle";
        node.appendChild(
          svg("text", { x: tx, y: height - 2, "text-anchor": anchor }, clock.format(new Date((start + offset) * 1000)))
        );
      }
    });
    const lines = [
      ["waiting", runs(series, (p) => p.waiting, x, yWait, step)],
      ["level", runs(series, (p) => p.service_level, x, yLevel, step)],
    ];
    lines.forEach(([kind, parts]) => {
      parts.forEach((points) => {
        if (points.length === 1) {
          node.appendChild(svg("circle", { class: "dot-" + kind, cx: points[0][0], cy: points[0][1], r: 3 }));
        } else {
          const text = points.map((p) => p[0].toFixed(1) + "," + p[1].toFixed(1)).join(" ");
          node.appendChild(svg("polyline", { class: "line-" + kind, points: text }));
        }
      });
    });
    box.replaceChildren(node);
  }

  // A figure too wide for its column (a wait of hours) shrinks instead of running into
  // the next one.
  function fit(root) {
    root.querySelectorAll(".figure .value").forEach((value) => {
      const room = value.parentElement.clientWidth;
      let scale = 1;
      const base = parseFloat(window.getComputedStyle(value).fontSize);
      while (value.scrollWidth > room && scale > 0.45) {
        scale -= 0.07;
        value.style.fontSize = base * scale + "px";
      }
    });
  }

  function agentChip(agent) {
    const L = LABELS[lang];
    const node = el("span", "agent s-" + agent.state);
    node.dataset.agent = agent.id;
    node.dataset.state = agent.state;
    const who = agent.name || agent.id;
    const reason = agent.reason ? L.reason[agent.reason] || agent.reason : null;
    const what = (L.state[agent.state] || agent.state) + (reason ? ": " + reason : "");
    node.title = agent.name ? agent.name + " (" + agent.id + ")" : agent.id;
    // A long name or reason is cut, never the time in state.
    node.appendChild(el("span", "what", who + " · " + what));
    node.appendChild(el("span", "time", duration(agent.seconds)));
    return node;
  }

  // Chips past the panel's last line are left out and counted in a "+N more" chip.
  function fitAgents(panel, chips) {
    const L = LABELS[lang];
    const bottom = () => panel.getBoundingClientRect().bottom + 0.5;
    const outside = (node) => node.getBoundingClientRect().bottom > bottom();
    let shown = chips.filter((chip) => !outside(chip));
    if (shown.length === chips.length) return;
    chips.slice(shown.length).forEach((chip) => chip.remove());
    const more = el("span", "agent more");
    more.dataset.more = "true";
    panel.appendChild(more);
    do {
      more.textContent = L.more(chips.length - shown.length);
      more.dataset.hidden = String(chips.length - shown.length);
      if (!outside(more)) break;
      shown.pop().remove();
    } while (shown.length > 0);
    more.textContent = L.more(chips.length - shown.length);
    more.dataset.hidden = String(chips.length - shown.length);
  }

  function labels() {
    const L = LABELS[lang];
    document.documentElement.lang = lang;
    document.getElementById("title").textContent = L.title;
    document.getElementById("agents-title").textContent = L.agents;
    const legend = document.getElementById("legend");
    legend.replaceChildren(
      document.createTextNode(L.chart + " "),
      el("span", "w", "━ " + L.chart_waiting),
      document.createTextNode("   "),
      el("span", "s", "╍ " + L.chart_level),
      document.createTextNode("   "),
      el("span", "g", "┈ " + L.chart_goal)
    );
  }

  function draw(data) {
    if (!(forcedLang in LABELS) && data.language in LABELS) lang = data.language;
    timeZone = data.time_zone || null;
    last = data;
    const L = LABELS[lang];
    labels();
    document.getElementById("note").textContent =
      data.fallback === "prometheus-unreachable" ? L.fallback : "";
    const queues = document.getElementById("queues");
    const count = data.queues.length;
    queues.style.setProperty("--cols", count <= 1 ? 1 : count <= 4 ? 2 : 3);
    queues.replaceChildren(...data.queues.map(tile));
    fit(queues);
    const step = data.series_step || 20;
    data.queues.forEach((q) => {
      const box = queues.querySelector('[data-chart="' + CSS.escape(q.name) + '"]');
      if (box) drawChart(box, q, data.at, step);
    });
    const agents = document.getElementById("agents");
    const chips = data.agents.map(agentChip);
    agents.replaceChildren(...(chips.length ? chips : [el("span", "", L.no_agents)]));
    if (chips.length) fitAgents(agents, chips);
    refreshMs = Math.max(500, data.refresh_seconds * 1000);
    tick();
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

  // The board's time of day, in its time zone: blank until the first figures say which.
  function tick() {
    const clock = document.getElementById("clock");
    if (last === null) return;
    clock.textContent = timeFormat({ hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(
      new Date()
    );
  }

  let resizing = null;
  window.addEventListener("resize", () => {
    window.clearTimeout(resizing);
    resizing = window.setTimeout(() => last !== null && draw(last), 200);
  });

  document.addEventListener("DOMContentLoaded", () => {
    labels();
    window.setInterval(tick, 1000);
    poll();
  });
})();
