// convnas pages: actions through the JSON API (with the token, asked once per tab when the
// server has tokens) and live refresh of a running search by polling. No framework.
"use strict";
(function () {
  const api = document.body.dataset.api;
  const needsToken = document.body.dataset.auth === "token";
  const TOKEN_KEY = "convnas-token";

  function notice(text, bad) {
    const box = document.getElementById("notice");
    box.textContent = text;
    box.className = bad ? "notice bad" : "notice";
    box.hidden = false;
  }

  // Authorization headers: with ask, prompt for the token once per tab (null: not given).
  function headers(ask) {
    if (!needsToken) return {};
    let token = sessionStorage.getItem(TOKEN_KEY);
    if (!token && ask) {
      token = window.prompt("This server needs an API token for changes:");
      if (!token) return null;
      sessionStorage.setItem(TOKEN_KEY, token.trim());
    }
    return token ? { Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY) } : {};
  }
  window.convnasAuth = headers;

  async function act(button) {
    const { action, id, name } = button.dataset;
    if (action === "delete" && !window.confirm(`Delete search ${id} (${name}) and all its trials?`)) return;
    const sent = headers(true);
    if (sent === null) return;
    const method = action === "delete" ? "DELETE" : "POST";
    const url = action === "delete" ? `${api}/searches/${id}` : `${api}/searches/${id}/${action}`;
    button.disabled = true;
    try {
      const response = await fetch(url, { method, headers: sent });
      const body = await response.json().catch(() => ({}));
      if (response.status === 401 || response.status === 403) sessionStorage.removeItem(TOKEN_KEY);
      if (!response.ok) {
        notice(`${action} failed: ${body.detail || body.title || response.status}`, true);
        return;
      }
      notice(body.message || `${action}: done`, false);
      if (action === "delete" && document.getElementById("summary")) {
        window.location.href = "/";
      } else {
        window.setTimeout(() => window.location.reload(), 600);
      }
    } catch (err) {
      notice(`${action} failed: ${err}`, true);
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) act(button);
  });

  // A running search: poll its summary; when a trial finishes or the status changes, reload
  // the page (the server renders the current page of the leaderboard again).
  const summary = document.getElementById("summary");
  if (summary && summary.dataset.live === "yes") {
    const readHeaders = headers(false);
    const poll = async () => {
      try {
        const response = await fetch(`${api}/searches/${summary.dataset.search}`, { headers: readHeaders });
        if (!response.ok) return;
        const s = await response.json();
        document.getElementById("live-progress").textContent = `${s.finished}/${s.requested}`;
        document.getElementById("live-running").textContent = s.running;
        document.getElementById("live-failed").textContent = s.failed;
        const status = document.getElementById("live-status");
        status.textContent = s.status;
        status.className = `status status-${s.status}`;
        const changed = s.status !== summary.dataset.status || String(s.finished) !== summary.dataset.finished;
        const ended = s.status !== "running" && s.status !== "queued";
        if (changed && !ended && window.convnasRefreshPlots) {
          // A trial finished: the search page redraws its plots and leaderboard in place
          // (brushes kept); the page is loaded again once, when the search ends.
          summary.dataset.status = s.status;
          summary.dataset.finished = String(s.finished);
          await window.convnasRefreshPlots().catch(() => {});
        } else if (changed && !document.querySelector('[data-dirty="yes"]')) {
          // A reload, but not over a note being written (note.js marks it): its words would go.
          window.location.reload();
          return;
        }
      } catch (err) { /* the server may be restarting: try again next time */ }
      window.setTimeout(poll, 3000);
    };
    window.setTimeout(poll, 3000);
  }
})();
