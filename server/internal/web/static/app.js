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
  const refresh = async () => {
    try {
      const url = table.dataset.live + window.location.search;
      const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (res.status === 401) {
        status.textContent = "Your session has ended — reload to sign in again.";
        return;
      }
      if (!res.ok) throw new Error("HTTP " + res.status);
      renderRows(table.tBodies[0], await res.json());
      status.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
    } catch (e) {
      status.textContent = "Cannot reach the server (" + e.message + "); retrying.";
    }
  };
  setInterval(refresh, 3000);
}
