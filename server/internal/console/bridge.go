package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/coder/websocket"
	gossh "golang.org/x/crypto/ssh"
)

// Browser messages: input and window size from the terminal; the output
// goes back as binary messages, and the end as a text message.
type message struct {
	Type string `json:"t"`           // "i" input, "r" resize; from the server "x" the end
	Data string `json:"d,omitempty"` // input; the end's message
	Cols int    `json:"c,omitempty"`
	Rows int    `json:"r,omitempty"`
	Exit *int   `json:"exit,omitempty"`
}

// Bridge logs in as user over the agent's connection (an SSH client:
// "none" authentication, the agent decides by the console's identity)
// and joins a shell on a terminal of cols×rows to the browser's
// WebSocket until either ends.
//
// The agent's host key is not checked: the connection is the agent's own
// WebSocket, authenticated by its machine credential over the server's
// TLS; nothing else can be at its other end.
func Bridge(ctx context.Context, browser *websocket.Conn, agent net.Conn, user string, cols, rows int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cc, chans, reqs, err := gossh.NewClientConn(agent, "machine", &gossh.ClientConfig{User: user, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 15 * time.Second})
	if err != nil {
		agent.Close()
		return endWith(browser, nil, fmt.Sprintf("the machine refused the login as %s: %v", user, err))
	}
	client := gossh.NewClient(cc, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return endWith(browser, nil, "the machine refused a session: "+err.Error())
	}
	defer sess.Close()
	stdin, _ := sess.StdinPipe()
	stdout, _ := sess.StdoutPipe()
	// What the machine says on stderr (why it refused the session: no
	// such user, the audit or the recording unavailable) goes to the
	// terminal too; with a PTY there is nothing else there.
	toBrowser := &browserWriter{ctx: ctx, ws: browser}
	sess.Stderr = toBrowser
	if err := sess.RequestPty("xterm-256color", max(rows, 2), max(cols, 10), gossh.TerminalModes{gossh.ECHO: 1}); err != nil {
		return endWith(browser, nil, "the machine refused a terminal: "+err.Error())
	}
	if err := sess.Shell(); err != nil {
		return endWith(browser, nil, "the machine refused a shell: "+err.Error())
	}
	go func() { // browser → machine
		defer cancel()
		for {
			typ, b, err := browser.Read(ctx)
			if err != nil {
				return
			}
			if typ != websocket.MessageText {
				continue
			}
			var m message
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			switch m.Type {
			case "i":
				if _, err := io.WriteString(stdin, m.Data); err != nil {
					return
				}
			case "r":
				if m.Cols > 0 && m.Rows > 0 && m.Cols < 1000 && m.Rows < 1000 {
					_ = sess.WindowChange(m.Rows, m.Cols)
				}
			}
		}
	}()
	out := make(chan error, 1)
	go func() { // machine → browser
		buf := make([]byte, 32<<10)
		for {
			n, err := stdout.Read(buf)
			if n > 0 {
				if _, werr := toBrowser.Write(buf[:n]); werr != nil {
					out <- werr
					return
				}
			}
			if err != nil {
				out <- nil
				return
			}
		}
	}()
	select {
	case <-out:
	case <-ctx.Done():
		return nil // the browser left: closing the session ends it on the machine
	}
	werr := sess.Wait()
	status := 0
	var ee *gossh.ExitError
	switch {
	case errors.As(werr, &ee):
		status = ee.ExitStatus()
	case werr != nil:
		return endWith(browser, nil, "the session ended: "+werr.Error())
	}
	return endWith(browser, &status, fmt.Sprintf("the session ended (exit status %d)", status))
}

// browserWriter sends terminal output to the browser, one message per
// write, from stdout and stderr alike.
type browserWriter struct {
	ctx context.Context
	ws  *websocket.Conn
	mu  sync.Mutex
}

func (w *browserWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.ws.Write(w.ctx, websocket.MessageBinary, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Refuse ends the browser's terminal with msg before any session began
// (the policy refused it, the machine did not answer).
func Refuse(browser *websocket.Conn, msg string) { _ = endWith(browser, nil, msg) }

func endWith(browser *websocket.Conn, status *int, msg string) error {
	b, _ := json.Marshal(message{Type: "x", Data: msg, Exit: status})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = browser.Write(ctx, websocket.MessageText, b)
	browser.Close(websocket.StatusNormalClosure, "")
	return nil
}
