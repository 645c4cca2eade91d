// The launch form: validate the spec as it is typed (POST /spaces/validate), list each problem
// with its line (a click selects that line), and submit it (POST /searches).
"use strict";
(function () {
  const form = document.getElementById("launch");
  if (!form) return;
  const api = document.body.dataset.api;
  const spec = document.getElementById("spec");
  const verdict = document.getElementById("verdict");
  const list = document.getElementById("problems");
  let timer = null;
  let sequence = 0;

  function selectLine(line) {
    const lines = spec.value.split("\n");
    const start = lines.slice(0, line - 1).reduce((n, text) => n + text.length + 1, 0);
    spec.focus();
    spec.setSelectionRange(start, start + (lines[line - 1] || "").length);
  }

  function show(problems) {
    list.replaceChildren();
    for (const p of problems) {
      const item = document.createElement("li");
      const where = p.line ? `line ${p.line}` : "";
      const text = `${where}${where && p.path ? ", " : ""}${p.path || ""}: ${p.message}`;
      if (p.line) {
        const jump = document.createElement("button");
        jump.type = "button";
        jump.className = "link";
        jump.textContent = text;
        jump.addEventListener("click", () => selectLine(p.line));
        item.append(jump);
      } else {
        item.textContent = text;
      }
      list.append(item);
    }
  }

  async function validate() {
    const mine = ++sequence;
    if (!spec.value.trim()) { verdict.textContent = ""; show([]); return; }
    try {
      const response = await fetch(`${api}/spaces/validate`, {
        method: "POST", headers: { "Content-Type": "application/yaml", ...window.convnasAuth(false) },
        body: spec.value,
      });
      const body = await response.json();
      if (mine !== sequence) return;  // a newer edit is being checked
      if (!response.ok) { verdict.textContent = body.detail || body.title; verdict.className = "verdict bad"; return; }
      verdict.className = body.ok ? "verdict good" : "verdict bad";
      verdict.textContent = body.ok
        ? `OK — ${body.summary || body.name}; ${body.trials} trials, sampler ${body.sampler}.`
          + (body.warnings.length ? ` Warnings: ${body.warnings.join("; ")}` : "")
        : `${body.errors.length} problem(s):`;
      show(body.errors || []);
    } catch (err) { verdict.textContent = `could not check: ${err}`; }
  }

  spec.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(validate, 400); });
  document.getElementById("use-example").addEventListener("click", () => {
    spec.value = spec.dataset.example; validate();
  });
  document.getElementById("spec-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (file) { spec.value = await file.text(); validate(); }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const auth = window.convnasAuth(true);
    if (auth === null) return;
    const response = await fetch(`${api}/searches`, {
      method: "POST", headers: { "Content-Type": "application/yaml", ...auth }, body: spec.value,
    });
    const body = await response.json().catch(() => ({}));
    if (response.status === 201) { window.location.href = `/searches/${body.id}`; return; }
    if (response.status === 401 || response.status === 403) sessionStorage.removeItem("convnas-token");
    verdict.className = "verdict bad";
    verdict.textContent = `not launched: ${body.detail || body.title || response.status}`;
    show(body.errors || []);
  });
})();
