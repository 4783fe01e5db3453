// Plays an asciinema v2 cast (an SSH session's recording) in xterm.js.
(function () {
  'use strict';
  const el = document.getElementById('player');
  const btn = document.getElementById('play');
  if (!el || !btn || typeof Terminal === 'undefined') return;
  const status = document.getElementById('play-status');
  let timer = null;
  btn.addEventListener('click', async function () {
    if (timer) clearTimeout(timer);
    const resp = await fetch(el.dataset.cast, { credentials: 'same-origin' });
    if (!resp.ok) { status.textContent = 'the recording cannot be read (' + resp.status + ')'; return; }
    const lines = (await resp.text()).split('\n').filter(function (l) { return l !== ''; });
    const header = JSON.parse(lines[0]);
    el.textContent = '';
    const term = new Terminal({ cols: header.width || 80, rows: header.height || 24, scrollback: 10000, disableStdin: true });
    term.open(el);
    window.wfPlayer = term;
    const events = lines.slice(1).map(function (l) { return JSON.parse(l); });
    const speed = Number(document.getElementById('speed').value) || 1;
    let i = 0;
    const start = performance.now();
    status.textContent = 'playing';
    (function step() {
      const now = (performance.now() - start) / 1000 * speed;
      while (i < events.length && events[i][0] <= now) {
        const ev = events[i++];
        if (ev[1] === 'o') term.write(ev[2]);
        else if (ev[1] === 'r') { const m = /^(\d+)x(\d+)$/.exec(ev[2]); if (m) term.resize(Number(m[1]), Number(m[2])); }
      }
      if (i < events.length) { timer = setTimeout(step, Math.min(100, Math.max(0, (events[i][0] - now) / speed * 1000))); }
      else { status.textContent = 'played (' + events.length + ' events)'; el.dataset.played = '1'; }
    })();
  });
  el.dataset.ready = '1';
}());
