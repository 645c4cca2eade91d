// Parameter importance on the search page: fetched after the page loads (it may take a moment
// on a large search) and drawn as a horizontal bar chart in SVG. Okabe-Ito blue bars, each
// labelled with its value, so neither colour nor length alone carries the number.
"use strict";
(function () {
  const box = document.getElementById("importance");
  if (!box) return;
  const SVG = "http://www.w3.org/2000/svg";

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function say(text) {
    const p = document.createElement("p");
    p.className = "importance-note";
    p.textContent = text;
    box.querySelector(".importance-body").replaceChildren(p);
  }

  function draw(body) {
    const row = 24, left = 190, width = 560, barMax = 300, top = 8;
    const height = top * 2 + row * body.items.length;
    const svg = el("svg", {
      class: "chart", id: "chart-importance", viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": `Parameter importance for ${body.objective} (${body.evaluator})`,
    });
    svg.appendChild(el("title", {}, `Parameter importance for ${body.objective}`));
    body.items.forEach((item, i) => {
      const y = top + row * i;
      const g = el("g", { class: "bar", "data-param": item.param });
      g.appendChild(el("title", {}, `${item.param}: ${item.importance.toFixed(3)}`));
      g.appendChild(el("text", { x: left - 6, y: y + 16, "text-anchor": "end" }, item.param));
      const w = Math.max(item.importance * barMax, 1);
      g.appendChild(el("rect", { x: left, y: y + 4, width: w.toFixed(1), height: 16, fill: "#0072B2" }));
      g.appendChild(el("text", { x: left + w + 6, y: y + 16 }, item.importance.toFixed(3)));
      svg.appendChild(g);
    });
    const caption = document.createElement("p");
    caption.className = "importance-note";
    caption.textContent = `fANOVA on the latest ${body.used_trials} of ${body.completed} completed trials.`;
    box.querySelector(".importance-body").replaceChildren(svg, caption);
  }

  async function load() {
    const sent = window.convnasAuth ? window.convnasAuth(false) : {};
    try {
      const response = await fetch(box.dataset.url, { headers: sent || {} });
      const body = await response.json();
      if (!response.ok) return say(`Importance unavailable: ${body.detail || body.title || response.status}`);
      if (!body.ready) return say(`Parameter importance: ${body.reason}.`);
      if (!body.items.length) return say("No searched parameter to rank.");
      draw(body);
    } catch (err) {
      say(`Importance unavailable: ${err}`);
    }
  }
  load();
})();
