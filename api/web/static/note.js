// The note on a search or a trial (templates/_note.html): saved through the JSON API with the
// token app.js keeps, then the page reloads so that the server renders the markdown.
"use strict";
(function () {
  const section = document.getElementById("note");
  const form = document.getElementById("note-form");
  const text = document.getElementById("note-text");
  const status = document.getElementById("note-status");
  const saved = text.value;

  // app.js's live refresh leaves a page with unsaved words alone (see its poll).
  text.addEventListener("input", () => {
    section.dataset.dirty = text.value !== saved ? "yes" : "no";
  });

  function failed(text) {
    status.textContent = text;
    status.className = "note-status bad";
  }

  async function save(note) {
    const sent = window.convnasAuth(true);
    if (sent === null) return;
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    status.textContent = "Saving…";
    status.className = "note-status";
    try {
      const response = await fetch(section.dataset.url, {
        method: "PUT",
        headers: { ...sent, "Content-Type": "application/json" },
        body: JSON.stringify({ note }),
      });
      const body = await response.json().catch(() => ({}));
      if (response.status === 401 || response.status === 403) sessionStorage.removeItem("convnas-token");
      if (!response.ok) {
        const problem = (body.errors && body.errors[0] && body.errors[0].message) || body.detail || response.status;
        failed(`Not saved: ${problem}`);
        return;
      }
      section.dataset.dirty = "no";
      status.textContent = note ? "Saved." : "Cleared.";
      window.location.reload();
    } catch (err) {
      failed(`Not saved: ${err}`);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save(text.value);
  });
  const clear = document.getElementById("note-clear");
  if (clear) clear.addEventListener("click", () => {
    if (window.confirm("Remove this note?")) save(null);
  });
})();
