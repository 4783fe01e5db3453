//go:build !windows

package sshd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	gliderssh "github.com/gliderlabs/ssh"
)

// run starts the session's process as acct — the user's login shell, a
// command through it, or the sftp server — in a session of its own, and
// waits for it. A PTY when the client asked for one. The process group
// is killed when the connection goes (revoked, closed) or the recording
// fails. It returns the exit status (-1: none).
func (s *Server) run(sess gliderssh.Session, acct *Account, kind string, rec io.Writer, r *recorder, failed <-chan struct{}) (int, error) {
	cmd, err := s.command(sess, acct, kind)
	if err != nil {
		return -1, err
	}
	ptyReq, winCh, isPty := sess.Pty()
	if kind == kindSFTP {
		isPty = false
	}
	var wg sync.WaitGroup
	out := io.Writer(sess)
	if rec != nil {
		out = io.MultiWriter(sess, rec)
	}
	if isPty {
		cmd.Env = append(cmd.Env, "TERM="+ptyReq.Term)
		ptm, tty, err := pty.Open()
		if err != nil {
			return -1, fmt.Errorf("opening a terminal: %w", err)
		}
		defer ptm.Close()
		if cred := cmd.SysProcAttr.Credential; cred != nil {
			_ = tty.Chown(int(cred.Uid), int(cred.Gid))
		}
		cmd.Env = append(cmd.Env, "SSH_TTY="+tty.Name())
		_ = pty.Setsize(ptm, &pty.Winsize{Cols: uint16(ptyReq.Window.Width), Rows: uint16(ptyReq.Window.Height)})
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		cmd.SysProcAttr.Setctty = true
		err = cmd.Start()
		tty.Close()
		if err != nil {
			return -1, fmt.Errorf("starting %s: %w", cmd.Path, err)
		}
		go func() {
			for w := range winCh {
				_ = pty.Setsize(ptm, &pty.Winsize{Cols: uint16(w.Width), Rows: uint16(w.Height)})
				if r != nil {
					r.Resize(w.Width, w.Height)
				}
			}
		}()
		go func() { _, _ = io.Copy(ptm, sess) }()
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = io.Copy(out, ptm) }() // ends with EIO once the last holder of the terminal exits
	} else {
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return -1, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return -1, err
		}
		errOut := io.Writer(sess.Stderr())
		if rec != nil {
			errOut = io.MultiWriter(sess.Stderr(), rec)
		}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return -1, err
		}
		if err := cmd.Start(); err != nil {
			return -1, fmt.Errorf("starting %s: %w", cmd.Path, err)
		}
		go func() { _, _ = io.Copy(stdin, sess); stdin.Close() }()
		wg.Add(2)
		go func() { defer wg.Done(); _, _ = io.Copy(out, stdout) }()
		go func() { defer wg.Done(); _, _ = io.Copy(errOut, stderr) }()
	}
	exited := make(chan struct{})
	go func() {
		select {
		case <-exited:
			return
		case <-sess.Context().Done():
		case <-failed:
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGHUP)
		select {
		case <-exited:
		case <-time.After(2 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}()
	if !isPty {
		wg.Wait() // the pipes: read all before Wait
	}
	err = cmd.Wait()
	close(exited)
	if isPty {
		waitTimeout(&wg, 2*time.Second) // the terminal's last output
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
				return -1, fmt.Errorf("killed by %v", st.Signal())
			}
			return ee.ExitCode(), nil
		}
		return -1, err
	}
	return 0, nil
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// command builds the process: the user's shell (a login shell for an
// interactive session, "-c COMMAND" for a command) or the agent's sftp
// server, with sshd's environment, in the user's home, as the user.
func (s *Server) command(sess gliderssh.Session, acct *Account, kind string) (*exec.Cmd, error) {
	var cmd *exec.Cmd
	switch {
	case kind == kindSFTP:
		if s.Exe == "" {
			return nil, errors.New("sftp is not available (the agent's binary is unknown)")
		}
		cmd = exec.Command(s.Exe, "ssh-sftp-server")
	case sess.RawCommand() != "":
		cmd = exec.Command(acct.Shell, "-c", sess.RawCommand())
	default:
		cmd = exec.Command(acct.Shell)
		cmd.Args = []string{"-" + filepath.Base(acct.Shell)} // a login shell, as sshd starts it
	}
	cmd.Dir = acct.Home
	if !reachable(acct.Home, acct) {
		cmd.Dir = "/" // as sshd does when the home cannot be entered
	}
	path := "/usr/local/bin:/usr/bin:/bin:/usr/games"
	if acct.UID == 0 {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	local, remote := sess.LocalAddr(), sess.RemoteAddr()
	cmd.Env = []string{"HOME=" + acct.Home, "USER=" + acct.Name, "LOGNAME=" + acct.Name, "SHELL=" + acct.Shell, "PATH=" + path,
		fmt.Sprintf("SSH_CLIENT=%s %s %s", hostOf(remote), portOf(remote), portOf(local)),
		fmt.Sprintf("SSH_CONNECTION=%s %s %s %s", hostOf(remote), portOf(remote), hostOf(local), portOf(local))}
	for _, kv := range sess.Environ() { // what Debian's sshd accepts: AcceptEnv LANG LC_*
		if strings.HasPrefix(kv, "LANG=") || strings.HasPrefix(kv, "LC_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	self := uint32(os.Geteuid())
	switch {
	case self == 0:
		if acct.UID != 0 {
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: acct.UID, Gid: acct.GID, Groups: acct.Groups}
		}
	case acct.UID != self:
		return nil, fmt.Errorf("the agent runs as uid %d and cannot log you in as %s", self, acct.Name)
	}
	return cmd, nil
}

// reachable reports whether acct may enter dir: every directory on the
// way lets it search (the process changes into dir after it became acct,
// and a refused chdir would refuse the session).
func reachable(dir string, acct *Account) bool {
	if !filepath.IsAbs(dir) {
		return false
	}
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		var st syscall.Stat_t
		if err := syscall.Stat(d, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			return false
		}
		if acct.UID != 0 {
			perm := uint32(st.Mode) & 0o777
			switch {
			case uint32(st.Uid) == acct.UID:
				perm >>= 6
			case uint32(st.Gid) == acct.GID || slices.Contains(acct.Groups, uint32(st.Gid)):
				perm >>= 3
			}
			if perm&1 == 0 {
				return false
			}
		}
		if d == "/" {
			return true
		}
	}
}

// lookupAccount finds a local user through the system's name service
// (getent: /etc/passwd, LDAP, sssd), as sshd does; its groups too.
func lookupAccount(name string) (*Account, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	line, err := getent(ctx, "passwd", name)
	if err != nil {
		return nil, err
	}
	f := strings.Split(line, ":")
	if len(f) < 7 || f[0] != name {
		return nil, fmt.Errorf("there is no user %q on this machine", name)
	}
	uid, err1 := strconv.ParseUint(f[2], 10, 32)
	gid, err2 := strconv.ParseUint(f[3], 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %q: malformed passwd entry", name)
	}
	a := &Account{Name: name, UID: uint32(uid), GID: uint32(gid), Home: f[5], Shell: f[6]}
	if a.Shell == "" {
		a.Shell = "/bin/sh"
	}
	if strings.HasSuffix(a.Shell, "/nologin") || strings.HasSuffix(a.Shell, "/false") {
		return nil, fmt.Errorf("user %q may not log in (shell %s)", name, a.Shell)
	}
	if out, err := exec.CommandContext(ctx, "id", "-G", name).Output(); err == nil {
		for _, g := range strings.Fields(string(out)) {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				a.Groups = append(a.Groups, uint32(n))
			}
		}
	}
	return a, nil
}

// getent returns the first entry of a name-service database for key; on
// a system without getent (macOS) it reads /etc/passwd.
func getent(ctx context.Context, db, key string) (string, error) {
	out, err := exec.CommandContext(ctx, "getent", db, key).Output()
	var ee *exec.ExitError
	switch {
	case err == nil:
		line, _, _ := strings.Cut(string(out), "\n")
		return line, nil
	case errors.As(err, &ee) && ee.ExitCode() == 2:
		return "", fmt.Errorf("there is no user %q on this machine", key)
	case !errors.Is(err, exec.ErrNotFound):
		return "", fmt.Errorf("looking up user %q: %w", key, err)
	}
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if bytes.HasPrefix(sc.Bytes(), []byte(key+":")) {
			return sc.Text(), nil
		}
	}
	return "", fmt.Errorf("there is no user %q on this machine", key)
}

// sessionsSupported: Linux and macOS serve sessions.
const sessionsSupported = true
