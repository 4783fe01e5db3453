package api

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// maxRecordingAppend bounds one append to a recording: what an agent
// may hold back while the server was slow (sshd's maxUnsent), with room.
const maxRecordingAppend = 16 << 20

// agentSSHCheck answers a destination agent's question for a check rule.
func (s *Server) agentSSHCheck(w http.ResponseWriter, r *http.Request) {
	var req wire.SSHCheckRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	base := ""
	if s.info != nil {
		base = s.info().URL
	}
	ans, err := s.fl.SSHCheck(r.Context(), machineFrom(r.Context()), req, base)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, ans)
}

// agentSSHSession takes a session's start, end or refusal.
func (s *Server) agentSSHSession(w http.ResponseWriter, r *http.Request) {
	var ev wire.SSHSessionEvent
	if err := decodeJSON(w, r, &ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.fl.SSHSessionEvent(r.Context(), machineFrom(r.Context()), ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// agentSSHRecording appends to a session's recording at ?offset=N.
func (s *Server) agentSSHRecording(w http.ResponseWriter, r *http.Request) {
	off, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	if err != nil || off < 0 {
		s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "offset: the bytes of the recording the server holds (0 or more)"))
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRecordingAppend))
	if err != nil {
		s.writeError(w, r, wire.Errorf(wire.CodeBodyTooLarge, "an append is at most %d bytes", maxRecordingAppend))
		return
	}
	if err := s.fl.AppendSSHRecording(r.Context(), machineFrom(r.Context()), r.PathValue("id"), off, data); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listSSHSessions answers GET /api/v1/ssh/sessions[?machine=&limit=].
func (s *Server) listSSHSessions(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "limit %q: 1–1000", clip(l)))
			return
		}
		limit = n
	}
	list, err := s.fl.SSHSessions(r.Context(), adminFrom(r.Context()), r.URL.Query().Get("machine"), limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.SSHSessionList{Sessions: list})
}

// sshRecording serves a session's cast (asciinema v2).
func (s *Server) sshRecording(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := s.fl.WriteSSHRecording(r.Context(), r.PathValue("id"), &buf); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-asciicast")
	w.Header().Set("Content-Disposition", `attachment; filename="`+r.PathValue("id")+`.cast"`)
	_, _ = w.Write(buf.Bytes())
}

// account is the person behind an admin actor ("admin:alice" → alice).
func account(a string) string {
	name, ok := strings.CutPrefix(a, "admin:")
	if !ok {
		return ""
	}
	return name
}

func (s *Server) getSSHCheck(w http.ResponseWriter, r *http.Request) {
	c, err := s.fl.SSHCheckFor(r.Context(), account(adminFrom(r.Context()).Name), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) confirmSSHCheck(w http.ResponseWriter, r *http.Request) {
	a := adminFrom(r.Context())
	c, err := s.fl.ConfirmSSHCheck(r.Context(), a, account(a.Name), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// agentSSHConsole hands a machine's agent the console terminals waiting
// for it (long-poll, ?wait=SECONDS up to MaxWait).
func (s *Server) agentSSHConsole(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Console == nil {
		writeJSON(w, http.StatusOK, wire.SSHConsoleRequests{Requests: []wire.SSHConsoleRequest{}})
		return
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "wait %q: seconds (0 or more)", clip(v)))
			return
		}
		wait = min(time.Duration(n)*time.Second, s.cfg.MaxWait)
	}
	reqs := s.cfg.Console.Poll(r.Context(), machineFrom(r.Context()).ID, wait)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, wire.SSHConsoleRequests{Requests: reqs})
}

// agentSSHConsoleConn is the WebSocket an agent answers a console
// request with: the server's SSH client runs over it (console.Bridge).
func (s *Server) agentSSHConsoleConn(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Console == nil {
		s.writeError(w, r, wire.Errorf(wire.CodeNotFound, "no console terminal waits here"))
		return
	}
	if !s.requireUpgrade(w, r, "a console terminal") {
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20) // SSH packets (up to 35,000 bytes) travel whole in one message
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	conn := &closing{Conn: websocket.NetConn(ctx, ws, websocket.MessageBinary), done: make(chan struct{})}
	if !s.cfg.Console.Answer(machineFrom(r.Context()).ID, r.PathValue("id"), conn) {
		ws.Close(websocket.StatusPolicyViolation, "no such console request for this machine (it ended?)")
		return
	}
	select { // the bridge owns it now; the request lives as long as it
	case <-conn.done:
	case <-ctx.Done():
	}
}

// closing is a net.Conn that says when it was closed.
type closing struct {
	net.Conn
	once sync.Once
	done chan struct{}
}

func (c *closing) Close() error {
	c.once.Do(func() { close(c.done) })
	return c.Conn.Close()
}
