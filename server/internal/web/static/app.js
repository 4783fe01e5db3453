// Wirefleet admin page: live machine table, bulk selection, confirmations,
// copy buttons.
// Loaded from /static (the Content-Security-Policy forbids inline script).
// Every value from the server is placed with textContent, never innerHTML.
"use strict";

document.addEventListener("click", (ev) => {
  const el = ev.target.closest("[data-confirm]");
  if (el && !window.confirm(el.dataset.confirm)) {
    ev.preventDefault();
  }
  const copy = ev.target.closest("[data-copy], [data-copy-text]");
  if (copy) {
    const src = copy.dataset.copy ? document.getElementById(copy.dataset.copy) : null;
    copyText(copy, src ? src.textContent.trim() : copy.dataset.copyText, src);
  }
});

// copyText puts text on the clipboard: navigator.clipboard where the page
// is a secure context, else the older execCommand route (plain HTTP); when
// both fail the text is selected for Ctrl+C.
function copyText(button, text, src) {
  const label = button.textContent;
  const said = (msg) => {
    button.textContent = msg;
    setTimeout(() => { button.textContent = label; }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(() => said("Copied"), () => fallback());
  } else {
    fallback();
  }
  function fallback() {
    const ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.className = "offscreen";
    document.body.append(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    ta.remove();
    button.focus();
    if (ok) { said("Copied"); return; }
    if (src) { window.getSelection().selectAllChildren(src); }
    said("Press Ctrl+C");
  }
}

// el makes an element with a class and text.
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}


// Refreshing a cell changes only what differs: a node whose text is the
// same is not touched, so focus and a text selection inside it survive.
function setText(node, v) { if (node.textContent !== v) node.textContent = v; }
function setAttr(node, name, v) { if (node.getAttribute(name) !== v) node.setAttribute(name, v); }

// part returns td's child matching sel, made by make when missing.
function part(td, sel, make) {
  let n = td.querySelector(sel);
  if (!n) { n = make(); td.append(n); }
  return n;
}

function clippedText(td, sel, tag, cls, v) {
  const n = part(td, sel, () => el(tag, "clip " + cls));
  setText(n, v);
  setAttr(n, "title", v);
  return n;
}

// cells are the machine table's columns after the checkbox: each says
// what it shows (key) and brings a cell to it (fill). A refresh fills
// only cells whose key changed.
const cells = [
  { key: (r) => [r.id, r.name, r.hostname], fill: (td, r) => {
    const a = part(td, "a", () => el("a", "clip"));
    setAttr(a, "href", "/machines/" + encodeURIComponent(r.id));
    setText(a, r.name);
    setAttr(a, "title", r.name);
    clippedText(td, "div.sub", "div", "sub", r.hostname);
  } },
  { key: (r) => [r.state], fill: (td, r) => {
    const s = part(td, "span.state", () => el("span", "state"));
    setAttr(s, "class", "state " + r.state);
    setText(s, r.state);
  } },
  { key: (r) => [r.last_seen, r.seen_at], fill: (td, r) => {
    const s = part(td, "span", () => el("span"));
    setText(s, r.last_seen);
    setAttr(s, "title", r.seen_at);
  } },
  { key: (r) => [r.os], fill: (td, r) => clippedText(td, "span.clip", "span", "", r.os) },
  { key: (r) => [r.agent], fill: (td, r) => clippedText(td, "span.clip", "span", "", r.agent) },
  { key: (r) => [r.ipv4, r.ipv6, r.name], fill: (td, r) => {
    setText(part(td, "span.ip", () => el("span", "ip")), r.ipv4);
    const b = part(td, "button.copy", () => { const b = el("button", "copy", "Copy"); b.type = "button"; return b; });
    b.dataset.copyText = r.ipv4;
    setAttr(b, "aria-label", "Copy " + r.name + "'s IPv4 address");
    clippedText(td, "div.sub", "div", "sub", r.ipv6);
  } },
  { key: (r) => r.tags, fill: (td, r) => {
    const s = clippedText(td, "span.tags", "span", "tags", r.tags.join(", "));
    const now = [...s.querySelectorAll(".tag")].map((t) => t.textContent).join(", ");
    if (now !== r.tags.join(", ") || s.children.length !== r.tags.length) {
      s.textContent = "";
      for (const t of r.tags) s.append(el("span", "tag", t), " ");
    }
  } },
  { key: (r) => [r.cpu], fill: (td, r) => setText(td, r.cpu) },
  { key: (r) => [r.mem], fill: (td, r) => setText(td, r.mem) },
  { key: (r) => [r.disk], fill: (td, r) => setText(td, r.disk) },
];

function newRow(r) {
  const tr = el("tr");
  const pick = el("td", "pick");
  const box = el("input");
  box.type = "checkbox";
  box.name = "id";
  box.value = r.id;
  box.setAttribute("form", "bulk");
  box.setAttribute("aria-label", "Select " + r.name);
  pick.append(box);
  tr.append(pick);
  for (let i = 0; i < cells.length; i++) tr.append(el("td"));
  return tr;
}

// reconcile brings tbody's rows to rows (objects with an id), in order:
// a row that stays keeps its element (made by make when new), and fill
// updates it in place. With no rows, one row says emptyText.
function reconcile(tbody, rows, make, fill, emptyText, width) {
  const have = new Map();
  for (const tr of tbody.rows) if (tr.dataset.id) have.set(tr.dataset.id, tr);
  const want = new Set(rows.map((r) => r.id));
  for (const [id, tr] of have) if (!want.has(id)) tr.remove();
  for (const tr of [...tbody.rows]) if (!tr.dataset.id) tr.remove();
  let at = tbody.firstElementChild;
  for (const r of rows) {
    let tr = have.get(r.id);
    if (!tr) {
      tr = make(r);
      tr.dataset.id = r.id;
      tbody.insertBefore(tr, at);
    } else if (tr !== at) {
      tbody.insertBefore(tr, at); // the order changed (a sort by a moving value)
    } else {
      at = at.nextElementSibling;
    }
    fill(tr, r);
  }
  if (rows.length === 0 && emptyText) {
    const tr = el("tr", "empty");
    const td = el("td", "", emptyText);
    td.colSpan = width;
    tr.append(td);
    tbody.append(tr);
  }
}

// updateRows brings the machine table to rows, touching only the cells
// whose values changed.
function updateRows(tbody, rows, emptyText) {
  reconcile(tbody, rows, newRow, (tr, r) => {
    if (tr.dataset.v === r.v) return; // unchanged since drawn
    tr.dataset.v = r.v;
    cells.forEach((c, i) => {
      const td = tr.cells[i + 1];
      const k = JSON.stringify(c.key(r));
      if (td.dataset.k !== k) {
        c.fill(td, r);
        td.dataset.k = k;
      }
    });
    setAttr(tr.cells[0].firstElementChild, "aria-label", "Select " + r.name);
  }, emptyText, cells.length + 1);
}

const table = document.querySelector("table[data-live]");
if (table) {
  const status = document.getElementById("live-status");
  const tbody = table.tBodies[0];
  let failing = false;
  let etag = "";
  const refresh = async () => {
    if (document.hidden) return; // nobody is looking: no traffic from background tabs
    try {
      const url = table.dataset.live + window.location.search;
      const headers = { Accept: "application/json" };
      if (etag) headers["If-None-Match"] = etag;
      const res = await fetch(url, { credentials: "same-origin", cache: "no-store", headers });
      if (res.status === 401) {
        status.textContent = "Your session has ended — reload to sign in again.";
        return;
      }
      if (res.status !== 304) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        etag = res.headers.get("ETag") || "";
        const l = await res.json();
        const t0 = performance.now();
        updateRows(tbody, l.rows, l.fleet === 0 ? "No machines yet. Create a token on the Tokens page and run its one-liner on a machine." : "No machines match.");
        for (const n of document.querySelectorAll("[data-count]")) {
          const k = n.dataset.count.toLowerCase();
          const v = k === "all" ? l.all : l.counts[k];
          if (v !== undefined && n.textContent !== String(v)) n.textContent = v;
        }
        const range = document.getElementById("range");
        if (range) {
          const text = (l.first ? l.first + "–" + l.last : "0") + " of " + l.matched + (l.matched !== l.fleet ? " (fleet: " + l.fleet + ")" : "");
          if (range.textContent !== text) range.textContent = text;
        }
        picked();
        window.wfLastRefreshMS = performance.now() - t0; // for the console test's figures
      }
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

// Bulk selection: the count of selected machines, "select all shown", and
// the button naming what it will do.
const bulk = document.getElementById("bulk");
function picked() {
  if (!bulk) return;
  const boxes = document.querySelectorAll('input[name="id"][form="bulk"]');
  const n = [...boxes].filter((b) => b.checked).length;
  const all = document.getElementById("pick-all");
  if (all) {
    all.checked = n > 0 && n === boxes.length;
    all.indeterminate = n > 0 && n < boxes.length;
  }
  const sel = document.getElementById("selected");
  const text = n === 0 ? "Select machines to act on several at once." : n + (n === 1 ? " machine selected" : " machines selected");
  if (sel.textContent !== text) sel.textContent = text;
  document.getElementById("bulk-go").disabled = n === 0;
}
if (bulk) {
  document.addEventListener("change", (ev) => {
    if (ev.target.id === "pick-all") {
      for (const b of document.querySelectorAll('input[name="id"][form="bulk"]')) b.checked = ev.target.checked;
    }
    picked();
  });
  picked();
}

// "/" focuses the search field, as on most consoles (not while typing).
document.addEventListener("keydown", (ev) => {
  if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
  const q = document.getElementById("q");
  if (q) { ev.preventDefault(); q.focus(); q.select(); }
});

// syncRows brings a table body to rows ({id, cells: [text…]}), keeping
// rows and cells whose text is unchanged (focus and selection survive).
function syncRows(tbody, rows, emptyText, width) {
  reconcile(tbody, rows, (r) => {
    const tr = el("tr");
    for (let i = 0; i < r.cells.length; i++) tr.append(el("td"));
    return tr;
  }, (tr, r) => r.cells.forEach((text, i) => setText(tr.cells[i], text)), emptyText, width);
}

// The machine page follows the machine: state, last seen, health and the
// path to each tunnel peer, refreshed in place every few seconds while
// the tab is visible.
const live = document.getElementById("machine-live");
if (live) {
  let etag = "";
  const refresh = async () => {
    if (document.hidden) return;
    try {
      const headers = { Accept: "application/json" };
      if (etag) headers["If-None-Match"] = etag;
      const res = await fetch(live.dataset.live, { credentials: "same-origin", cache: "no-store", headers });
      if (res.status === 304 || !res.ok) return;
      etag = res.headers.get("ETag") || "";
      const l = await res.json();
      const st = document.getElementById("machine-state");
      setText(st, l.state);
      setAttr(st, "class", "state " + l.state);
      const seen = document.getElementById("last-seen");
      setText(seen, l.last_seen);
      setAttr(seen, "title", l.seen_at);
      setText(document.getElementById("health-summary"), l.health);
      setText(document.getElementById("health-updated"), l.updated || "none");
      setText(document.getElementById("tunnel-heading"), l.tunnel);
      const down = document.getElementById("tunnel-error");
      down.hidden = !l.down;
      down.className = l.down ? "error" : ""; // the page's notice boxes stay the only hidden-free .error
      setText(document.getElementById("tunnel-error-text"), l.down);
      const peers = document.getElementById("tunnel-peers");
      syncRows(peers.tBodies[0], l.peers, "No peers.", 8);
    } catch (e) {
      // The next refresh tries again; the machines list says when the server is lost.
    }
  };
  setInterval(refresh, 3000);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
}
