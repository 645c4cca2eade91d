// The search page's interactive plots (Plotly, served from the installed package): parallel
// coordinates whose brushing filters the leaderboard, slice, contour, intermediate values,
// timeline, EDF, and the live view of running trials. Every number comes from the /plots
// endpoints, which bound what they send; this script only draws it. Colours: Okabe-Ito.
"use strict";
(function () {
  const box = document.getElementById("explore");
  if (!box) return;
  const status = document.getElementById("explore-status");
  const STATUS_COLOURS = {
    completed: "#0072B2", pruned: "#E69F00", running: "#009E73", failed: "#D55E00",
    duplicate: "#999999", interrupted: "#CC79A7", cancelled: "#555555",
  };
  const CONFIG = { displaylogo: false, responsive: true };
  const BASE = { margin: { l: 60, r: 20, t: 10, b: 50 }, font: { size: 12 }, hovermode: "closest" };
  let data = null;

  function say(text) { status.textContent = text; status.hidden = !text; }

  async function get(url) {
    const sent = (window.convnasAuth && window.convnasAuth(false)) || {};
    const response = await fetch(url, { headers: sent });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.detail || body.title || String(response.status));
    return body;
  }

  // ---- the axes: a parameter's drawn value (log10 for a log range, a choice's index) ----
  const axes = () => data.params;
  const objective = () => data.objectives[0].metric;
  function drawn(axis, value) {
    if (value === null || value === undefined) return null;
    return axis.log ? Math.log10(value) : value;
  }
  function missingAt(axis) {  // where "not sampled" sits, below the axis's range
    if (axis.choices) return -1;
    const [lo, hi] = [drawn(axis, axis.low), drawn(axis, axis.high)];
    return lo - 0.08 * ((hi - lo) || 1);
  }

  // ---- parallel coordinates, and brushing -> the leaderboard's parameter filters ----
  // A number axis's ticks: five, evenly spaced where it is drawn, labelled with real values
  // (a log axis is drawn in log10), and "—" for trials that did not sample it.
  function numberTicks(axis, missing) {
    const [lo, hi] = [drawn(axis, axis.low), drawn(axis, axis.high)];
    const ticks = [0, 1, 2, 3, 4].map((k) => {
      const at = lo + (k * (hi - lo)) / 4;
      return { at, text: Number((axis.log ? 10 ** at : at).toPrecision(3)).toString() };
    });
    if (missing) ticks.unshift({ at: missingAt(axis), text: "—" });
    return { ticks, range: [missing ? missingAt(axis) : lo, hi] };
  }

  function coordinate(axis) {
    const raw = data.sampled_values[axis.label];
    const missing = raw.some((v) => v === null);
    const values = raw.map((v) => (v === null ? missingAt(axis) : drawn(axis, v)));
    if (!axis.choices) return { label: axis.label, values, ...numberTicks(axis, missing) };
    const ticks = axis.choices.map((text, at) => ({ at, text }));
    if (missing) ticks.unshift({ at: -1, text: "—" });
    const range = [missing ? -1 : 0, Math.max(axis.choices.length - 1, 1)];
    return { label: axis.label, values, ticks, range, bands: true };
  }

  function objectiveCoordinate(metric) {
    const raw = data.values[metric];
    const known = raw.filter((v) => v !== null);
    let [lo, hi] = [Math.min(...known), Math.max(...known)];
    if (!known.length) [lo, hi] = [0, 1];
    const pad = (hi - lo) * 0.08 || 0.5;
    const ticks = [0, 1, 2, 3, 4].map((k) => lo + (k * (hi - lo)) / 4).map((at) => ({ at, text: String(+at.toPrecision(3)) }));
    ticks.unshift({ at: lo - pad, text: "—" });
    return { label: metric, values: raw.map((v) => (v === null ? lo - pad : v)), ticks, range: [lo - pad, hi] };
  }

  let parcoords = null;
  function drawParcoords() {
    const coordinates = axes().map(coordinate);
    for (const o of data.objectives) coordinates.push(objectiveCoordinate(o.metric));
    const el = document.getElementById("plot-parcoords");
    el.style.minWidth = `${coordinates.length * 90 + 140}px`;
    const kept = parcoords ? parcoords.brushes() : {};
    parcoords = window.convnasParcoords(el, {
      axes: coordinates, colour: data.values[objective()], colourLabel: objective(), onBrush: brushed,
      labels: data.trial,
      describe: (row) => {
        const value = data.values[objective()][row];
        return `trial ${data.trial[row]} (${data.status[row]}): ${objective()} ${value === null ? "—" : value.toFixed(4)}`;
      },
      onOpen: (row) => { window.location.href = box.dataset.trial + data.trial[row]; },
    });
    for (const [i, range] of Object.entries(kept)) parcoords.setBrush(Number(i), range);
  }

  function filterOf(axis, [lo, hi]) {
    if (axis.choices) {
      const picked = axis.choices.filter((_, i) => lo - 0.5 <= i && i <= hi + 0.5);
      return picked.length ? `${axis.label}=${picked.join(",")}` : null;
    }
    let [low, high] = axis.log ? [10 ** lo, 10 ** hi] : [lo, hi];
    low = Math.max(low, axis.low); high = Math.min(high, axis.high);
    return low <= high ? `${axis.label}:${low.toPrecision(6)}..${high.toPrecision(6)}` : null;
  }

  // Brushes on parameter axes become the leaderboard's filters; an objective's brush only
  // highlights (the leaderboard has no filter on accuracy).
  function brushed(brushes) {
    const filters = [];
    for (const [i, range] of Object.entries(brushes)) {
      const axis = axes()[Number(i)];
      const made = axis && filterOf(axis, range);
      if (made) filters.push(made);
    }
    const input = document.querySelector("#board input[data-params]");
    if (input) input.value = filters.join(" ");
    refreshBoard();
  }

  // The leaderboard, as the server renders it with the form's filters, swapped in place.
  async function refreshBoard() {
    const form = document.querySelector("#board form.filters");
    const board = document.getElementById("board");
    if (!form || !board) return;
    const query = new URLSearchParams(new FormData(form));
    for (const [key, value] of [...query.entries()]) if (!value) query.delete(key);
    const response = await fetch(`${board.dataset.board}?${query}`);
    const html = await response.text();
    const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("board");
    if (!response.ok || !fresh) {
      const detail = new DOMParser().parseFromString(html, "text/html").querySelector(".error-detail");
      say(`The leaderboard did not update: ${detail ? detail.textContent : response.status}`);
      return;
    }
    board.replaceWith(fresh);
    window.history.replaceState(null, "", `?${query}`);
    say("");
  }

  // ---- hover and click: every point carries its trial number ----
  function openOnClick(el) {
    if (el.dataset.clicks) return;
    el.dataset.clicks = "yes";
    el.on("plotly_click", (event) => {
      const point = event.points && event.points[0];
      const trial = point && (Array.isArray(point.customdata) ? point.customdata[0] : point.customdata);
      if (trial !== undefined && trial !== null) window.location.href = box.dataset.trial + trial;
    });
  }

  function fillSelect(select, chosen, withNumber) {
    if (select.options.length) return;
    if (withNumber) select.add(new Option("trial number (history)", ""));
    for (const axis of axes()) select.add(new Option(axis.label, axis.label));
    if (chosen) select.value = chosen;
  }

  // ---- slice (and history: the objective against the trial number) ----
  function drawSlice() {
    const select = document.getElementById("slice-x");
    fillSelect(select, axes()[0] && axes()[0].label, true);
    const metric = objective();
    const label = select.value;
    const axis = axes().find((a) => a.label === label);
    const keep = data.trial.map((_, i) => i).filter((i) => data.values[metric][i] !== null &&
      (!axis || data.sampled_values[label][i] !== null));
    const x = keep.map((i) => (axis ? data.sampled_values[label][i] : data.trial[i]));
    const trace = {
      type: "scatter", mode: "markers", x, y: keep.map((i) => data.values[metric][i]),
      customdata: keep.map((i) => data.trial[i]),
      marker: { color: keep.map((i) => data.trial[i]), colorscale: "Cividis", size: 7, showscale: true, colorbar: { title: { text: "trial" } } },
      hovertemplate: `trial %{customdata}<br>${label || "trial number"} %{x}<br>${metric} %{y:.4f}<extra></extra>`,
    };
    const xaxis = { title: { text: label || "trial number" } };
    if (axis && axis.log) xaxis.type = "log";
    if (axis && axis.choices) Object.assign(xaxis, { tickvals: axis.choices.map((_, i) => i), ticktext: axis.choices });
    const el = document.getElementById("plot-slice");
    Plotly.react(el, [trace], { ...BASE, xaxis, yaxis: { title: { text: metric } } }, CONFIG);
    openOnClick(el);
  }

  // ---- contour: the server's grid of means, with the trials on top ----
  async function drawContour() {
    const sx = document.getElementById("contour-x"), sy = document.getElementById("contour-y");
    const el = document.getElementById("plot-contour");
    if (axes().length < 2) { el.textContent = "A contour needs two searched parameters."; return; }
    // By default a number against another parameter: two choices alone make a coarse grid.
    const first = axes().find((a) => !a.choices) || axes()[0];
    fillSelect(sx, first.label, false);
    fillSelect(sy, axes().find((a) => a !== first).label, false);
    if (sx.value === sy.value) { el.textContent = "Choose two different parameters."; return; }
    const grid = await get(`${box.dataset.contour}?${new URLSearchParams({ x: sx.value, y: sy.value })}`);
    const layout = { ...BASE, xaxis: axisLayout(grid.x), yaxis: axisLayout(grid.y) };
    const cells = {
      type: grid.x.choices || grid.y.choices ? "heatmap" : "contour",
      x: grid.x_centers, y: grid.y_centers, z: grid.mean, customdata: grid.count,
      colorscale: "Viridis", connectgaps: false, colorbar: { title: { text: grid.metric } },
      hovertemplate: `${grid.x.label} %{x}<br>${grid.y.label} %{y}<br>mean ${grid.metric} %{z:.4f} over %{customdata} trials<extra></extra>`,
    };
    const keep = data.trial.map((_, i) => i).filter((i) =>
      data.sampled_values[grid.x.label][i] !== null && data.sampled_values[grid.y.label][i] !== null);
    const points = {
      type: "scatter", mode: "markers", x: keep.map((i) => data.sampled_values[grid.x.label][i]),
      y: keep.map((i) => data.sampled_values[grid.y.label][i]), customdata: keep.map((i) => data.trial[i]),
      marker: { size: 5, color: "#ffffff", line: { color: "#222", width: 1 } },
      hovertemplate: "trial %{customdata}<extra></extra>", showlegend: false,
    };
    Plotly.react(el, [cells, points], layout, CONFIG);
    openOnClick(el);
  }

  function axisLayout(axis) {
    const out = { title: { text: axis.label } };
    if (axis.log) out.type = "log";
    if (axis.choices) Object.assign(out, { tickvals: axis.choices.map((_, i) => i), ticktext: axis.choices });
    return out;
  }

  // ---- intermediate values: one line per trial (one trace per status, gaps between trials) ----
  function curveTraces(items) {
    const byStatus = {};
    for (const c of items) {
      const t = byStatus[c.status] || (byStatus[c.status] = { x: [], y: [], customdata: [] });
      c.epochs.forEach((e, k) => { t.x.push(e); t.y.push(c.val_acc[k]); t.customdata.push(c.trial); });
      t.x.push(null); t.y.push(null); t.customdata.push(null);
    }
    return Object.entries(byStatus).map(([name, t]) => ({
      type: "scatter", mode: "lines+markers", name, ...t,
      line: { color: STATUS_COLOURS[name] || "#333", width: 1 }, marker: { size: 4 },
      hovertemplate: `trial %{customdata} (${name})<br>epoch %{x}: val_acc %{y:.4f}<extra></extra>`,
    }));
  }

  async function drawCurves() {
    const curves = await get(box.dataset.curves);
    const el = document.getElementById("plot-curves");
    const layout = { ...BASE, xaxis: { title: { text: "epoch" }, dtick: 1 }, yaxis: { title: { text: "val_acc" } } };
    Plotly.react(el, curveTraces(curves.items), layout, CONFIG);
    openOnClick(el);
  }

  // ---- timeline: trials as bars per node over time ----
  // Each node's trials in lanes (a trial takes the first lane free when it starts): one bar a
  // trial, and the lanes in use at a moment are the node's busy slots.
  function lanes(now) {
    const order = data.trial.map((_, i) => i).filter((i) => data.started[i] !== null)
      .sort((a, b) => data.started[a] - data.started[b]);
    const free = {}, lane = {};
    for (const i of order) {
      const node = data.node[i] || "unknown node";
      const ends = free[node] || (free[node] = []);
      let k = ends.findIndex((end) => end <= data.started[i]);
      if (k < 0) k = ends.push(0) - 1;
      ends[k] = data.finished[i] === null ? now : data.finished[i];
      lane[i] = `${node} · ${k + 1}`;
    }
    return lane;
  }

  function drawTimeline() {
    const origin = data.origin ? Date.parse(data.origin) : null;
    const el = document.getElementById("plot-timeline");
    if (origin === null) { el.textContent = "No trial has started yet."; return; }
    const now = (Date.now() - origin) / 1000;
    const lane = lanes(now);
    const byStatus = {};
    for (const [key, row] of Object.entries(lane)) {
      const i = Number(key);
      const t = byStatus[data.status[i]] || (byStatus[data.status[i]] = { x: [], y: [], customdata: [] });
      const end = data.finished[i] === null ? now : data.finished[i];
      t.x.push(new Date(origin + data.started[i] * 1000), new Date(origin + end * 1000), null);
      t.y.push(row, row, null);
      t.customdata.push(data.trial[i], data.trial[i], null);
    }
    const traces = Object.entries(byStatus).map(([name, t]) => ({
      type: "scatter", mode: "lines", name, ...t,
      line: { color: STATUS_COLOURS[name] || "#333", width: 8 },
      hovertemplate: `trial %{customdata} (${name})<br>%{y}<br>%{x}<extra></extra>`,
    }));
    const rows = [...new Set(Object.values(lane))].sort().reverse();
    const layout = {
      ...BASE, margin: { l: 190, r: 20, t: 10, b: 50 }, xaxis: { type: "date" },
      yaxis: { type: "category", categoryorder: "array", categoryarray: rows, title: { text: "node · slot" } },
      height: Math.min(1200, Math.max(380, 14 * rows.length + 90)),
    };
    Plotly.react(el, traces, layout, CONFIG);
    openOnClick(el);
  }

  function drawEdf() {
    const el = document.getElementById("plot-edf");
    const trace = {
      type: "scatter", mode: "lines", line: { shape: "hv", color: "#0072B2" },
      x: data.edf.map((p) => p[0]), y: data.edf.map((p) => p[1]),
      hovertemplate: `${objective()} %{x:.4f}: %{y:.1%} of the completed trials at or below<extra></extra>`,
    };
    const layout = { ...BASE, xaxis: { title: { text: objective() } }, yaxis: { title: { text: "fraction of trials" }, range: [0, 1.02] } };
    Plotly.react(el, [trace], layout, CONFIG);
  }

  // ---- the ConvRNN views: one request for the edge map, the switches and the step curves ----
  let convrnn = null;
  async function views() {
    if (!convrnn) convrnn = get(box.dataset.convrnn);
    return convrnn;
  }
  const SVG = "http://www.w3.org/2000/svg";
  function svg(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  const pct = (x) => `${(100 * x).toFixed(0)}%`;
  const signed = (x) => (x === null ? "—" : `${x >= 0 ? "+" : ""}${x.toFixed(4)}`);
  const fixed = (x) => (x === null ? "—" : x.toFixed(4));

  async function drawEdges() {
    const v = await views();
    const host = document.getElementById("plot-edges");
    const step = 120, left = 60, width = left * 2 + step * Math.max(v.layers.length - 1, 1);
    const base = 50 + 0.45 * step * Math.max(v.layers.length - 1, 1);  // room for the widest arc
    const x = Object.fromEntries(v.layers.map((name, i) => [name, left + i * step]));
    const root = svg("svg", { viewBox: `0 0 ${width} ${base + 40}`, width, height: base + 40, role: "img",
      "aria-label": `Feedback edges of ${v.completed} completed trials` });
    const maxEffect = Math.max(...v.edges.map((e) => Math.abs(e.effect || 0)), 1e-9);
    for (const e of v.edges) {
      const [x1, x2] = [x[e.source], x[e.target]];
      if (x1 === undefined || x2 === undefined) continue;
      const lift = 30 + Math.abs(x1 - x2) * 0.45;
      const colour = e.effect === null ? "#999" : e.effect >= 0 ? "#0072B2" : "#D55E00";
      const g = svg("g", { class: "edge", "data-source": e.source, "data-target": e.target,
        "data-top-count": e.top_count, "data-all-count": e.all_count });
      g.append(svg("title", {}, `${e.source} → ${e.target}: top 10% ${pct(e.top_share)} (${e.top_count}), all ${pct(e.all_share)} (${e.all_count}), effect ${signed(e.effect)}`));
      g.append(svg("path", { d: `M ${x1} ${base - 18} C ${x1} ${base - lift}, ${x2} ${base - lift}, ${x2} ${base - 18}`,
        fill: "none", stroke: colour, "stroke-width": (1 + 10 * e.top_share).toFixed(1),
        "stroke-opacity": (0.35 + 0.65 * Math.abs(e.effect || 0) / maxEffect).toFixed(2),
        "stroke-dasharray": e.all_count ? "" : "4 4" }));
      root.append(g);
    }
    v.layers.forEach((name) => {
      root.append(svg("rect", { x: x[name] - 40, y: base - 18, width: 80, height: 30, rx: 5, fill: "#f4f6f8", stroke: "#333" }));
      root.append(svg("text", { x: x[name], y: base + 2, "text-anchor": "middle", "font-size": 13 }, name));
    });
    host.replaceChildren(root);
    const rows = [...v.edges].sort((a, b) => b.top_share - a.top_share).map((e) => {
      const tr = document.createElement("tr");
      tr.dataset.edge = `${e.source}->${e.target}`;
      for (const cell of [`${e.source} → ${e.target}`, `${pct(e.top_share)} (${e.top_count})`,
        `${pct(e.all_share)} (${e.all_count})`, fixed(e.mean_with), fixed(e.mean_without), signed(e.effect)]) {
        const td = document.createElement("td");
        td.textContent = cell;
        tr.append(td);
      }
      return tr;
    });
    document.querySelector("#edge-table tbody").replaceChildren(...rows);
    if (!v.edges.length) host.textContent = "This space has no candidate feedback edge.";
  }

  async function drawSteps() {
    const v = await views();
    const el = document.getElementById("plot-steps");
    if (!v.steps.length) { el.textContent = "No completed trial with per-step accuracy yet."; return; }
    const traces = v.steps.map((c, rank) => ({
      type: "scatter", mode: "lines+markers", name: `trial ${c.trial}`,
      x: c.val_acc_per_step.map((_, t) => t + 1), y: c.val_acc_per_step,
      customdata: c.val_acc_per_step.map(() => c.trial),
      line: { width: rank === 0 ? 3 : 1.5 },
      hovertemplate: `trial ${c.trial} (${v.metric} ${c.value.toFixed(4)})<br>step %{x}: %{y:.4f}<extra></extra>`,
    }));
    const layout = { ...BASE, xaxis: { title: { text: "time step" }, dtick: 1 }, yaxis: { title: { text: "val_acc at the step" } } };
    Plotly.react(el, traces, layout, CONFIG);
    openOnClick(el);
  }

  async function drawSwitches() {
    const v = await views();
    const el = document.getElementById("plot-switches");
    if (!v.switches.length) { el.textContent = "No searched RGC switch in this space."; return; }
    const names = v.switches.map((w) => `${w.label.split(".").slice(-1)[0]} = ${w.value}`);
    const hover = v.switches.map((w) => `${w.label} = ${w.value}<br>effect on ${v.metric}: ${signed(w.effect)}`);
    const bar = (name, key, colour) => ({
      type: "bar", orientation: "h", name, y: names, x: v.switches.map((w) => w[key]),
      marker: { color: colour }, customdata: hover, hovertemplate: `%{customdata}<br>${name}: %{x:.0%}<extra></extra>`,
    });
    const layout = { ...BASE, barmode: "group", margin: { l: 200, r: 20, t: 10, b: 40 },
      xaxis: { tickformat: ".0%", range: [0, 1] }, yaxis: { automargin: true }, height: Math.max(380, 26 * names.length + 80) };
    Plotly.react(el, [bar("top 10%", "top_share", "#0072B2"), bar("all", "all_share", "#BBBBBB")], layout, CONFIG);
  }

  // ---- the live view: the running trials' curves, polled; the rest refreshed on a change ----
  async function drawLive() {
    const live = await get(`${box.dataset.curves}?status=running`);
    const fig = document.getElementById("fig-live");
    fig.hidden = !live.items.length;
    const list = document.getElementById("live-trials");
    const LISTED = 24;
    const more = live.items.length - LISTED;
    list.replaceChildren(...live.items.slice(0, LISTED).map((c) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = box.dataset.trial + c.trial;
      a.textContent = `trial ${c.trial}`;
      const last = c.val_acc[c.val_acc.length - 1];
      li.append(a, ` · epoch ${c.epochs[c.epochs.length - 1]} · val_acc ${last === null ? "—" : last.toFixed(4)}`);
      li.dataset.trial = c.trial;
      li.dataset.epochs = c.epochs.length;
      return li;
    }));
    if (more > 0) {
      const li = document.createElement("li");
      li.textContent = `and ${more} more running (the leaderboard's status filter lists them all)`;
      list.append(li);
    }
    if (!live.items.length) return;
    const el = document.getElementById("plot-live");
    const layout = { ...BASE, xaxis: { title: { text: "epoch" }, dtick: 1 }, yaxis: { title: { text: "val_acc" } } };
    Plotly.react(el, curveTraces(live.items), layout, CONFIG);
    openOnClick(el);
  }

  // Each plot is drawn when it scrolls into view (and drawn again on a refresh once it has
  // been): the page does not wait for plots no one looks at, and the first one is up sooner.
  const DRAW = {
    "plot-parcoords": drawParcoords, "plot-slice": drawSlice, "plot-contour": drawContour,
    "plot-curves": drawCurves, "plot-timeline": drawTimeline, "plot-edf": drawEdf,
    "plot-edges": drawEdges, "plot-steps": drawSteps, "plot-switches": drawSwitches,
  };
  const started = new Set();
  function draw(id) {
    started.add(id);
    const ready = id === "plot-parcoords" || id === "plot-edges" ? Promise.resolve() : plotlyReady();
    return ready.then(DRAW[id]).catch((err) => say(`${id.slice(5)}: ${err.message}`));
  }
  const watcher = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting || !data) continue;
      watcher.unobserve(entry.target);
      draw(entry.target.id).then(() => { entry.target.dataset.drawn = "yes"; });
    }
  }, { rootMargin: "300px" });

  async function drawAll() {
    convrnn = null;
    data = await get(box.dataset.trials);
    // No trial yet: no empty frames, one line instead (the live poll draws them later).
    document.getElementById("explore-body").hidden = !data.trial.length;
    if (!data.trial.length) { say("No trial yet: the plots appear with the first one."); return; }
    const shown = data.sampled ? `${data.trial.length.toLocaleString()} of ${data.total.toLocaleString()} trials (the best, the running and an even spread)` : `${data.total.toLocaleString()} trials`;
    say(data.sampled ? `Showing ${shown}.` : "");
    for (const id of Object.keys(DRAW)) {
      if (started.has(id)) draw(id); else watcher.observe(document.getElementById(id));
    }
    await plotlyReady().then(drawLive);
    box.dataset.ready = "yes";
  }
  window.convnasRefreshPlots = async () => {
    await Promise.all([drawAll(), refreshBoard()]);
  };

  // Plotly (4.8 MB) is fetched once the parallel coordinates, which do not need it, are up:
  // the page is usable before the browser spends a second compiling it.
  let plotly = null;
  function plotlyReady() {
    if (window.Plotly) return Promise.resolve();
    if (!plotly) {
      plotly = new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = box.dataset.plotly;
        script.onload = resolve;
        script.onerror = () => reject(new Error("plotly.min.js did not load"));
        document.head.append(script);
      });
    }
    return plotly;
  }

  function start() {
    document.getElementById("slice-x").addEventListener("change", drawSlice);
    for (const id of ["contour-x", "contour-y"]) {
      document.getElementById(id).addEventListener("change", () => drawContour().catch((e) => say(`Contour: ${e.message}`)));
    }
    drawAll().catch((err) => say(`The plots could not load: ${err.message}`));
    const summary = document.getElementById("summary");
    if (summary && summary.dataset.live === "yes") {
      const tick = () => plotlyReady().then(drawLive).catch(() => {}).finally(() => window.setTimeout(tick, 3000));
      window.setTimeout(tick, 3000);
    }
  }
  start();
})();
