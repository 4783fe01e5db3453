// Wirefleet admin page: live machine table, confirmations, copy buttons.
// Loaded from /static (the Content-Security-Policy forbids inline script).
// Every value from the server is placed with textContent, never innerHTML.
"use strict";

document.addEventListener("click", (ev) => {
  const el = ev.target.closest("[data-confirm]");
  if (el && !window.confirm(el.dataset.confirm)) {
    ev.preventDefault();
  }
  const copy = ev.target.closest("[data-copy]");
  if (copy) {
    const src = document.getElementById(copy.dataset.copy);
    if (src && navigator.clipboard) {
      navigator.clipboard.writeText(src.textContent.trim()).then(
        () => { copy.textContent = "Copied"; setTimeout(() => { copy.textContent = "Copy"; }, 1500); },
        () => { copy.textContent = "Select and copy"; });
    }
  }
});

function cell(tr, text, sub) {
  const td = document.createElement("td");
  td.append(text);
  if (sub) {
    const d = document.createElement("div");
    d.className = "sub";
    d.textContent = sub;
    td.append(d);
  }
  tr.append(td);
  return td;
}

function renderRows(tbody, rows) {
  const frag = document.createDocumentFragment();
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    tr.className = "empty";
    const td = cell(tr, "No machines match.");
    td.colSpan = 10;
    frag.append(tr);
  }
  for (const r of rows) {
    const tr = document.createElement("tr");
    tr.dataset.id = r.id;
    const a = document.createElement("a");
    a.href = "/machines/" + encodeURIComponent(r.id);
    a.textContent = r.name;
    cell(tr, a, r.hostname);
    const st = document.createElement("span");
    st.className = "state " + r.state;
    st.textContent = r.state;
    cell(tr, st);
    cell(tr, r.last_seen);
    cell(tr, r.os);
    cell(tr, r.agent);
    cell(tr, r.ipv4, r.ipv6);
    const tags = document.createElement("span");
    for (const t of r.tags) {
      const s = document.createElement("span");
      s.className = "tag";
      s.textContent = t;
      tags.append(s, " ");
    }
    cell(tr, tags);
    cell(tr, r.cpu);
    cell(tr, r.mem);
    cell(tr, r.disk);
    frag.append(tr);
  }
  tbody.replaceChildren(frag);
}

const table = document.querySelector("table[data-live]");
if (table) {
  const status = document.getElementById("live-status");
  let failing = false;
  const refresh = async () => {
    if (document.hidden) return; // nobody is looking: no traffic from background tabs
    try {
      const url = table.dataset.live + window.location.search;
      const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (res.status === 401) {
        status.textContent = "Your session has ended — reload to sign in again.";
        return;
      }
      if (!res.ok) throw new Error("HTTP " + res.status);
      renderRows(table.tBodies[0], await res.json());
      // The live region speaks only when something changes for the user:
      // the server lost and back again, not every refresh.
      if (failing) status.textContent = "Connected again.";
      failing = false;
      status.title = "Updated " + new Date().toLocaleTimeString();
    } catch (e) {
      if (!failing) status.textContent = "Cannot reach the server (" + e.message + "); retrying.";
      failing = true;
    }
  };
  setInterval(refresh, 3000);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
}

// "/" focuses the search field, as on most consoles (not while typing).
document.addEventListener("keydown", (ev) => {
  if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
  const q = document.getElementById("q");
  if (q) { ev.preventDefault(); q.focus(); q.select(); }
});
