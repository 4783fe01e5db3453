package sshd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	gliderssh "github.com/gliderlabs/ssh"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Account is a local user a session runs as.
type Account struct {
	Name   string
	UID    uint32
	GID    uint32
	Groups []uint32
	Home   string
	Shell  string
}

// ErrNotSupported: this OS has no session runner yet (Windows).
var ErrNotSupported = errors.New("SSH sessions are not supported on this OS yet")

// Session kinds, as reported.
const (
	kindShell = "shell"
	kindExec  = "exec"
	kindSFTP  = "sftp"
)

func (s *Server) handle(sess gliderssh.Session) {
	kind := kindShell
	if sess.RawCommand() != "" {
		kind = kindExec
	}
	s.serve(sess, kind)
}

func (s *Server) handleSFTP(sess gliderssh.Session) { s.serve(sess, kindSFTP) }

// serve runs one session: reported before it starts, recorded when the
// policy says so, ended when the connection is closed for it (revoked,
// policy) or its recording fails, reported when it ends.
func (s *Server) serve(sess gliderssh.Session, kind string) {
	c, _ := sess.Context().Value(ctxKey{}).(*conn)
	if c == nil {
		_ = sess.Exit(255)
		return
	}
	peer, rule, login, ok := c.grant()
	if !ok {
		_ = sess.Exit(255)
		return
	}
	refuse := func(msg string) {
		s.Log.Warn("ssh: session refused", "src", peer.Name, "user", login, "why", msg)
		fmt.Fprintf(sess.Stderr(), "wirefleet: %s\r\n", msg)
		_ = sess.Exit(255)
	}
	acct, err := s.account(login)
	if err != nil {
		refuse(err.Error())
		return
	}
	pol := s.policy()
	record := pol != nil && pol.Record
	if record && kind == kindSFTP {
		refuse("file transfer is refused on this machine: its sessions must be recorded (the policy's recordSessions), and a transfer cannot be")
		return
	}
	ev := wire.SSHSessionEvent{ID: newID(), Event: wire.SSHSessionStart, Src: peer.ID, SrcAddr: hostOf(sess.RemoteAddr()), Console: c.console, User: login,
		Kind: kind, Command: truncate(sess.RawCommand(), 1024), Rule: rule.Rule, Recorded: record, Time: s.now().UTC()}
	tell := func(ev wire.SSHSessionEvent) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return s.Control.SSHSessionEvent(ctx, ev)
	}
	if err := tell(ev); err != nil {
		refuse("the server cannot be told of this session (every session is audited); try again later")
		return
	}
	var rec *recorder
	if record {
		ptyReq, _, _ := sess.Pty()
		h := castHeader{Width: max(ptyReq.Window.Width, 80), Height: max(ptyReq.Window.Height, 24),
			Title: fmt.Sprintf("%s@%s from %s", login, s.selfName(), or(peer.Name, "the console ("+c.console+")")), Env: map[string]string{"TERM": ptyReq.Term, "SHELL": acct.Shell}}
		ctx, cancel := context.WithTimeout(sess.Context(), 15*time.Second)
		rec, err = startRecording(ctx, s.Control.SSHRecord, s.now, ev.ID, h)
		cancel()
		if err != nil {
			end := ev
			end.Event, end.Time, end.ExitStatus, end.Reason = wire.SSHSessionEnd, s.now().UTC(), -1, "refused: "+err.Error()
			_ = tell(end)
			refuse("this session must be recorded (the policy's recordSessions), and " + err.Error())
			return
		}
	}
	s.mu.Lock()
	s.sessions++
	s.mu.Unlock()
	s.Log.Info("ssh: session started", "id", ev.ID, "src", peer.Name, "user", login, "kind", kind, "recorded", record)
	var failed <-chan struct{}
	var recOut io.Writer
	if rec != nil {
		failed, recOut = rec.Failed(), rec
	}
	status, runErr := s.run(sess, acct, kind, recOut, rec, failed)
	s.mu.Lock()
	s.sessions--
	s.mu.Unlock()
	end := ev
	end.Event, end.Time, end.ExitStatus = wire.SSHSessionEnd, s.now().UTC(), status
	switch {
	case c.closeReason() != "":
		end.Reason, end.ExitStatus = c.closeReason(), -1
	case rec != nil && rec.Err() != nil:
		end.Reason, end.ExitStatus = rec.Err().Error(), -1
	case runErr != nil:
		end.Reason = runErr.Error()
	}
	if rec != nil {
		if err := rec.Close(); err != nil && end.Reason == "" {
			end.Reason = "the end of the recording was lost: " + err.Error()
		}
	}
	if runErr != nil && status < 0 {
		fmt.Fprintf(sess.Stderr(), "wirefleet: %v\r\n", runErr)
	}
	if rec != nil && rec.Err() != nil {
		fmt.Fprintf(sess.Stderr(), "\r\nwirefleet: the session was ended: %v\r\n", rec.Err())
	}
	s.Log.Info("ssh: session ended", "id", ev.ID, "src", peer.Name, "user", login, "status", status, "reason", end.Reason)
	if err := tell(end); err != nil {
		s.Log.Warn("ssh: the end of a session could not be reported", "id", ev.ID, "err", err)
	}
	if status < 0 {
		status = 255
	}
	_ = sess.Exit(status)
}

func (s *Server) account(login string) (*Account, error) {
	if s.Accounts != nil {
		return s.Accounts(login)
	}
	return lookupAccount(login)
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
