// The console's terminal: xterm.js (bundled, @xterm/xterm 6.0.0) over a
// WebSocket to the server, which logs in to the machine over SSH.
(function () {
  'use strict';
  const el = document.getElementById('terminal');
  const form = document.getElementById('term-form');
  if (!el || !form || typeof Terminal === 'undefined') return;
  const status = document.getElementById('term-status');
  let ws = null;
  let term = null;
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (ws) ws.close();
    if (term) term.dispose();
    el.textContent = '';
    term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000 });
    term.open(el);
    window.wfTerminal = term;
    const user = document.getElementById('term-user').value;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = proto + '//' + location.host + '/machines/' + encodeURIComponent(el.dataset.machine) + '/terminal/ws?user=' +
      encodeURIComponent(user) + '&cols=' + term.cols + '&rows=' + term.rows;
    status.textContent = 'connecting…';
    ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    ws.onopen = function () { status.textContent = 'connected'; term.focus(); };
    ws.onmessage = function (m) {
      if (typeof m.data === 'string') {
        const x = JSON.parse(m.data);
        if (x.t === 'x') {
          status.textContent = x.d;
          term.write('\r\n[' + x.d + ']\r\n');
        }
        return;
      }
      term.write(new Uint8Array(m.data));
    };
    ws.onclose = function () { if (status.textContent === 'connected') status.textContent = 'disconnected'; };
    term.onData(function (d) { if (ws.readyState === 1) ws.send(JSON.stringify({ t: 'i', d: d })); });
    term.onResize(function (s) { if (ws.readyState === 1) ws.send(JSON.stringify({ t: 'r', c: s.cols, r: s.rows })); });
  });
  form.dataset.ready = '1';
}());
