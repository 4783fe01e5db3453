package sshd

import (
	"io"

	gliderssh "github.com/gliderlabs/ssh"
)

// run: Windows sessions (ConPTY, a user's token) are not built yet; the
// session is refused with that said.
func (s *Server) run(gliderssh.Session, *Account, string, io.Writer, *recorder, <-chan struct{}) (int, error) {
	return -1, ErrNotSupported
}

func lookupAccount(string) (*Account, error) { return nil, ErrNotSupported }

// sessionsSupported: Windows does not listen at all (status says why).
const sessionsSupported = false
