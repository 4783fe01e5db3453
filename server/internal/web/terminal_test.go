package web_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/creack/pty"
	gliderssh "github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// machineSSH plays a machine's agent for the console's terminal: it
// holds the console poll with the machine's credential, dials back each
// request as the agent does and serves it with a plain SSH server that
// starts sh on a PTY (the agent's own SSH server is held to the policy by
// the namespace test, TestSSHInNamespaces).
func machineSSH(t *testing.T, ctx context.Context, cl *client.Client) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := gossh.NewSignerFromKey(key)
	srv := &gliderssh.Server{HostSigners: []gliderssh.Signer{signer}, ChannelHandlers: map[string]gliderssh.ChannelHandler{"session": gliderssh.DefaultSessionHandler}, Handler: func(s gliderssh.Session) {
		ptyReq, _, _ := s.Pty()
		cmd := exec.Command("/bin/sh")
		cmd.Env = []string{"TERM=" + ptyReq.Term, "PS1=machine$ ", "PATH=/usr/bin:/bin"}
		f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(ptyReq.Window.Width), Rows: uint16(ptyReq.Window.Height)})
		if err != nil {
			s.Exit(1)
			return
		}
		go io.Copy(f, s)
		io.Copy(s, f)
		cmd.Wait()
		s.Exit(cmd.ProcessState.ExitCode())
	}}
	go func() {
		for ctx.Err() == nil {
			reqs, err := cl.SSHConsoleRequests(ctx, 10*time.Second)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for _, r := range reqs {
				nc, err := cl.DialSSHConsole(ctx, r.ID)
				if err != nil {
					t.Errorf("dial back: %v", err)
					continue
				}
				go srv.HandleConn(nc)
			}
		}
	}()
}

// TestConsoleTerminalInChromium: an admin opens a machine's terminal from
// its page in Chromium, types a command, and its output appears; a login
// the policy does not grant the console is refused with the reason; a
// recorded session plays back in the sessions page.
func TestConsoleTerminalInChromium(t *testing.T) {
	exe := chromium(t)
	base, password, admin := server(t)
	ctx := context.Background()
	tok, err := admin.CreateToken(ctx, wire.CreateTokenRequest{Tags: []string{"srv"}})
	if err != nil {
		t.Fatal(err)
	}
	anon, _ := client.New(base)
	en, err := anon.Enroll(ctx, wire.EnrollRequest{Token: tok.Secret, PublicKey: pubkey(), Hostname: "srv-1", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SetPolicy(ctx, wire.PutPolicyRequest{Text: `{"tags": ["tag:srv"], "rules": [],
  "ssh": [{"action": "accept", "src": ["autogroup:admin"], "dst": ["tag:srv"], "users": ["deploy"]}]}`}); err != nil {
		t.Fatal(err)
	}
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	machine, _ := client.New(base, client.WithToken(en.Credential))
	machineSSH(t, mctx, machine)

	bctx := chromiumContext(t, exe, 60*time.Second)
	chromedp.ListenTarget(bctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			t.Logf("page exception: %s", e.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			for _, a := range e.Args {
				t.Logf("console.%s: %s", e.Type, a.Value)
			}
		case *cdplog.EventEntryAdded:
			t.Logf("log: %s", e.Entry.Text)
		}
	})
	run := runner(t, bctx)
	shot := shots(t)
	var screen string
	run("sign in and open the terminal",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible("#password"),
		chromedp.SendKeys("#password", password),
		chromedp.Click("#signin"),
		chromedp.WaitVisible("table#machines"),
		chromedp.Navigate(base+"/machines/"+en.MachineID),
		chromedp.WaitVisible("#open-terminal"),
		chromedp.Click("#open-terminal"),
		chromedp.WaitVisible("#term-user"),
		chromedp.WaitReady(`#term-form[data-ready="1"]`), // terminal.js is listening
	)
	run("connect",
		chromedp.SetValue("#term-user", "deploy"),
		chromedp.Click("#term-connect"),
		chromedp.WaitReady(".xterm-rows"),
		chromedp.Poll(`document.getElementById('term-status').textContent === 'connected'`, nil, chromedp.WithPollingTimeout(20*time.Second)),
	)
	run("type a command",
		chromedp.Click(".xterm-screen"),
		chromedp.Focus(".xterm-helper-textarea", chromedp.NodeReady),
		// Typed text arrives as one input event (SendKeys' key events
		// reach xterm twice: keydown and keypress); Enter as a key.
		input.InsertText("echo from-the-console-$((6*7))"),
		chromedp.KeyEvent(kb.Enter),
		chromedp.Poll(`document.querySelector('.xterm-rows').textContent.includes('from-the-console-42')`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Text(".xterm-rows", &screen),
		shot("terminal"),
	)
	if !strings.Contains(screen, "from-the-console-42") {
		t.Fatalf("screen: %q", screen)
	}
	var status string
	run("a user the policy does not grant",
		chromedp.SetValue("#term-user", "root"),
		chromedp.Click("#term-connect"),
		chromedp.Poll(`document.getElementById('term-status').textContent.includes('no ssh rule')`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Text("#term-status", &status),
	)
	if !strings.Contains(status, "no ssh rule lets admins log in to srv-1 as root from the console") {
		t.Errorf("status: %q", status)
	}

	// A recorded session, as an agent reports it, plays in the page.
	id := strings.Repeat("5a", 16)
	if err := machine.SSHSessionEvent(ctx, wire.SSHSessionEvent{ID: id, Event: wire.SSHSessionStart, Console: "admin", User: "deploy", Kind: "shell", Recorded: true}); err != nil {
		t.Fatal(err)
	}
	cast := `{"version": 2, "width": 80, "height": 24, "timestamp": 1}` + "\n" +
		`[0.1, "o", "deploy@srv-1:~$ "]` + "\n" + `[0.5, "o", "uptime\r\n played-back \u001b[1mbold\u001b[0m\r\n"]` + "\n"
	if err := machine.SSHRecord(ctx, id, 0, []byte(cast)); err != nil {
		t.Fatal(err)
	}
	machine.SSHSessionEvent(ctx, wire.SSHSessionEvent{ID: id, Event: wire.SSHSessionEnd, User: "deploy"})
	var played string
	run("play a recording",
		chromedp.Navigate(base+"/ssh"),
		chromedp.WaitVisible("#ssh-sessions a.play"),
		chromedp.Click("#ssh-sessions a.play"),
		chromedp.WaitReady(`#player[data-ready="1"]`),
		chromedp.Click("#play"),
		chromedp.WaitReady(`#player[data-played="1"]`),
		chromedp.Text("#player .xterm-rows", &played),
		shot("recording"),
	)
	if !strings.Contains(played, "played-back bold") || !strings.Contains(played, "deploy@srv-1:~$ uptime") {
		t.Errorf("played: %q", played)
	}
}
