package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/console"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// terminalCSP is the terminal page's policy: the page's own, but xterm.js
// writes its renderer's styles into <style> elements, which style-src
// 'self' refuses; scripts stay 'self' alone.
const terminalCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// terminalPage shows a terminal to a machine (admins; the policy decides
// when it connects).
func (w *Web) terminalPage(rw http.ResponseWriter, r *http.Request, s store.Session) {
	m, err := w.fl.Machine(r.Context(), w.actor(r, s), r.PathValue("id"))
	if err != nil {
		w.fail(rw, r, http.StatusNotFound, "There is no such machine.")
		return
	}
	user := r.URL.Query().Get("user")
	if user == "" {
		user = "root"
	}
	rw.Header().Set("Content-Security-Policy", terminalCSP)
	w.render(rw, r, "terminal", http.StatusOK, page{Title: "Terminal: " + m.Name, Admin: s.Admin.Name, CSRF: s.CSRF,
		Data: terminalView{Machine: m, User: user}})
}

type terminalView struct {
	Machine wire.Machine
	User    string
}

// terminalWS is the terminal's WebSocket: after the policy's check the
// machine's agent is asked to dial back, and the server's SSH client
// runs over that connection, bridged to this one.
func (w *Web) terminalWS(rw http.ResponseWriter, r *http.Request, s store.Session) {
	if w.cfg.Console == nil {
		w.fail(rw, r, http.StatusNotFound, "This server has no console terminals.")
		return
	}
	m, err := w.fl.Machine(r.Context(), w.actor(r, s), r.PathValue("id"))
	if err != nil {
		w.fail(rw, r, http.StatusNotFound, "There is no such machine.")
		return
	}
	q := r.URL.Query()
	login := q.Get("user")
	cols, _ := strconv.Atoi(q.Get("cols"))
	rows, _ := strconv.Atoi(q.Get("rows"))
	// The browser's Origin must be this server's (the library's default):
	// another site cannot open a terminal with the admin's cookie.
	ws, err := websocket.Accept(rw, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	signedIn := s.ExpiresAt.Add(-w.cfg.SessionTTL)
	if _, err := w.fl.ConsoleGrant(m, login, signedIn); err != nil {
		console.Refuse(ws, err.Error())
		return
	}
	_ = ws.Write(r.Context(), websocket.MessageBinary, []byte("connecting to "+m.Name+" as "+login+"…\r\n"))
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	agent, err := w.cfg.Console.Open(ctx, m.ID, wire.SSHConsoleRequest{ID: hex.EncodeToString(id), Account: s.Admin.Name, User: login})
	cancel()
	if err != nil {
		console.Refuse(ws, err.Error())
		return
	}
	w.log.Info("console terminal", "admin", s.Admin.Name, "machine", m.Name, "user", login)
	_ = console.Bridge(r.Context(), ws, agent, login, cols, rows)
}
