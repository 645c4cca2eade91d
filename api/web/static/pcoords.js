// Parallel coordinates on a 2D canvas, with brushing. Plotly's own (parcoords) draws with WebGL:
// without a GPU (a server, a VM, a headless browser) it re-renders every line in software and a
// brush at a few thousand trials took seconds; its WebGL code also needs the page to allow eval.
// Here the lines are a few batched canvas paths, a brush redraws in milliseconds, and each axis
// is an element of its own (its brush target, labelled for assistive technology).
"use strict";
(function () {
  const VIRIDIS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
  const BUCKETS = 24;
  const MARGIN = { top: 120, bottom: 24, left: 40, right: 96 };

  function mix(a, b, t) {
    const p = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
    const [x, y] = [p(a), p(b)];
    return `rgb(${x.map((v, i) => Math.round(v + (y[i] - v) * t)).join(",")})`;
  }
  function colourAt(t) {
    const at = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
    const i = Math.min(Math.floor(at), VIRIDIS.length - 2);
    return mix(VIRIDIS[i], VIRIDIS[i + 1], at - i);
  }

  // spec: {axes: [{label, values, range: [lo, hi], ticks: [{at, text}], bands}], colour: [number|null],
  //        colourLabel, labels: [trial], describe(row), onBrush(brushes), onOpen(row)} where
  //        brushes maps an axis index to [lo, hi].
  window.convnasParcoords = function (host, spec) {
    host.replaceChildren();
    host.classList.add("pcoords");
    const canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `Parallel coordinates of ${spec.axes[0].values.length} trials`);
    host.append(canvas);
    const brushes = {};
    const overlays = [];
    let width = 0, height = 0, frame = null, hovered = null;
    const n = spec.axes.length;
    const lows = spec.colour.filter((v) => v !== null);
    const [cMin, cMax] = [Math.min(...lows), Math.max(...lows)];
    const bucketOf = spec.colour.map((v) =>
      v === null ? -1 : Math.min(BUCKETS - 1, Math.floor(((v - cMin) / ((cMax - cMin) || 1)) * BUCKETS)));

    const xOf = (i) => MARGIN.left + (i * (width - MARGIN.left - MARGIN.right)) / Math.max(n - 1, 1);
    const yOf = (axis, v) => {
      const [lo, hi] = axis.range;
      return MARGIN.top + (1 - (v - lo) / ((hi - lo) || 1)) * (height - MARGIN.top - MARGIN.bottom);
    };
    const valueAt = (axis, y) => {
      const [lo, hi] = axis.range;
      return lo + (1 - (y - MARGIN.top) / (height - MARGIN.top - MARGIN.bottom)) * (hi - lo);
    };
    // A choice holds the band half a step either side of its tick: a brush that touches the
    // band keeps it (the same rule as explore.js's filters).
    const kept = (row) => Object.entries(brushes).every(([i, [lo, hi]]) => {
      const axis = spec.axes[i];
      const v = axis.values[row];
      const slack = axis.bands ? 0.5 : 0;
      return v >= lo - slack && v <= hi + slack;
    });

    function lines(ctx, rows, style) {
      ctx.strokeStyle = style;
      ctx.beginPath();
      for (const row of rows) {
        spec.axes.forEach((axis, i) => {
          const [x, y] = [xOf(i), yOf(axis, axis.values[row])];
          if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
        });
      }
      ctx.stroke();
    }

    function draw() {
      frame = null;
      const ratio = window.devicePixelRatio || 1;
      const ctx = canvas.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, width, height);
      const rows = spec.colour.map((_, r) => r);
      const inside = rows.filter(kept);
      const brushed = Object.keys(brushes).length > 0;
      ctx.lineWidth = 1;
      if (brushed) {
        ctx.globalAlpha = 0.25;
        lines(ctx, rows.filter((r) => !kept(r)), "#c8c8c8");
      }
      ctx.globalAlpha = brushed ? 0.9 : 0.55;
      const byBucket = new Map();
      for (const r of inside) {
        const b = bucketOf[r];
        if (!byBucket.has(b)) byBucket.set(b, []);
        byBucket.get(b).push(r);
      }
      for (const [b, group] of byBucket) lines(ctx, group, b < 0 ? "#999999" : colourAt((b + 0.5) / BUCKETS));
      ctx.globalAlpha = 1;
      if (hovered !== null) {
        ctx.lineWidth = 3;
        lines(ctx, [hovered], "#000000");
        ctx.lineWidth = 1;
      }
      axesAndBrushes(ctx);
      host.dataset.kept = String(inside.length);
    }

    function axesAndBrushes(ctx) {
      ctx.font = "11px system-ui, sans-serif";
      spec.axes.forEach((axis, i) => {
        const x = xOf(i);
        ctx.strokeStyle = "#333";
        ctx.beginPath(); ctx.moveTo(x, MARGIN.top); ctx.lineTo(x, height - MARGIN.bottom); ctx.stroke();
        ctx.fillStyle = "#222";
        for (const tick of axis.ticks) {
          const y = yOf(axis, tick.at);
          ctx.fillRect(x - 3, y, 6, 1);
          ctx.fillText(tick.text, x + 5, y + 4);
        }
        ctx.save();
        ctx.translate(x - 2, MARGIN.top - 8);
        ctx.rotate(-Math.PI / 5);
        ctx.font = "12px system-ui, sans-serif";
        ctx.fillText(axis.label, 0, 0);
        ctx.restore();
        const brush = brushes[i];
        if (brush) {
          const [top, bottom] = [yOf(axis, brush[1]), yOf(axis, brush[0])];
          ctx.fillStyle = "rgba(230, 159, 0, 0.35)";
          ctx.strokeStyle = "#b36b00";
          ctx.fillRect(x - 7, top, 14, bottom - top);
          ctx.strokeRect(x - 7, top, 14, bottom - top);
        }
      });
      const bar = width - MARGIN.right + 52;
      for (let k = 0; k < 40; k++) {
        ctx.fillStyle = colourAt(1 - k / 39);
        const span = (height - MARGIN.top - MARGIN.bottom) / 40;
        ctx.fillRect(bar, MARGIN.top + k * span, 12, span + 1);
      }
      ctx.fillStyle = "#222";
      ctx.fillText(String(+cMax.toPrecision(3)), bar - 4, MARGIN.top - 6);
      ctx.fillText(String(+cMin.toPrecision(3)), bar - 4, height - MARGIN.bottom + 14);
      ctx.fillText(spec.colourLabel, bar - 12, MARGIN.top - 22);
    }

    function later() { if (!frame) frame = window.requestAnimationFrame(draw); }

    function layout() {
      const ratio = window.devicePixelRatio || 1;
      width = host.clientWidth;
      height = host.clientHeight;
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
      overlays.forEach((o, i) => {
        o.style.left = `${xOf(i) - 12}px`;
        o.style.top = `${MARGIN.top}px`;
        o.style.height = `${height - MARGIN.top - MARGIN.bottom}px`;
      });
      draw();
    }

    spec.axes.forEach((axis, i) => {
      const target = document.createElement("div");
      target.className = "pcoords-axis";
      target.dataset.axis = axis.label;
      target.setAttribute("aria-label", `brush ${axis.label}`);
      target.addEventListener("pointerdown", (event) => {
        event.preventDefault();
        target.setPointerCapture(event.pointerId);
        const box = host.getBoundingClientRect();
        const start = event.clientY - box.top;
        let moved = false;
        const move = (e) => {
          const y = e.clientY - box.top;
          if (Math.abs(y - start) < 3 && !moved) return;
          moved = true;
          const [a, b] = [valueAt(axis, start), valueAt(axis, y)];
          brushes[i] = [Math.min(a, b), Math.max(a, b)];
          later();
        };
        const up = () => {
          target.removeEventListener("pointermove", move);
          target.removeEventListener("pointerup", up);
          if (!moved) delete brushes[i];  // a click clears the axis's brush
          later();
          spec.onBrush({ ...brushes });
        };
        target.addEventListener("pointermove", move);
        target.addEventListener("pointerup", up);
      });
      overlays.push(target);
      host.append(target);
    });
    // Hover: the line nearest the pointer (interpolated between the two axes around it, among
    // the lines the brushes keep) is drawn bold and named; a click opens its trial.
    const tip = document.createElement("div");
    tip.className = "pcoords-tip";
    tip.hidden = true;
    host.append(tip);
    function nearest(px, py) {
      const k = Math.max(0, Math.min(n - 2, Math.floor(((px - MARGIN.left) / (width - MARGIN.left - MARGIN.right)) * (n - 1))));
      const [x0, x1] = [xOf(k), xOf(k + 1)];
      const t = Math.max(0, Math.min(1, (px - x0) / ((x1 - x0) || 1)));
      let best = null, gap = 8;
      spec.colour.forEach((_, row) => {
        if (!kept(row)) return;
        const y = yOf(spec.axes[k], spec.axes[k].values[row]) * (1 - t) + yOf(spec.axes[k + 1], spec.axes[k + 1].values[row]) * t;
        if (Math.abs(y - py) < gap) { gap = Math.abs(y - py); best = row; }
      });
      return best;
    }
    canvas.addEventListener("mousemove", (event) => {
      const box = canvas.getBoundingClientRect();
      const [px, py] = [event.clientX - box.left, event.clientY - box.top];
      const row = py > MARGIN.top - 4 && py < height - MARGIN.bottom + 4 ? nearest(px, py) : null;
      if (row === hovered) return;
      hovered = row;
      canvas.style.cursor = row === null ? "" : "pointer";
      tip.hidden = row === null;
      host.dataset.hovered = row === null ? "" : String(spec.labels[row]);
      if (row !== null) {
        tip.textContent = spec.describe(row);
        tip.style.left = `${Math.min(px + 12, width - 220)}px`;
        tip.style.top = `${py + 12}px`;
      }
      later();
    });
    canvas.addEventListener("mouseleave", () => { hovered = null; tip.hidden = true; later(); });
    canvas.addEventListener("click", () => { if (hovered !== null) spec.onOpen(hovered); });
    new ResizeObserver(layout).observe(host);
    layout();
    return {
      brushes: () => ({ ...brushes }),
      setBrush(i, range) { if (range) brushes[i] = range; else delete brushes[i]; later(); spec.onBrush({ ...brushes }); },
    };
  };
})();
