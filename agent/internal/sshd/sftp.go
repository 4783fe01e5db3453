package sshd

import (
	"errors"
	"io"
	"os"

	"github.com/pkg/sftp"
)

// ServeSFTP serves the SFTP protocol on stdin/stdout: the agent runs it
// as "wirefleet-agent ssh-sftp-server" under the user's identity, so the
// file system sees the user, not the agent.
func ServeSFTP() error {
	home, _ := os.UserHomeDir()
	if h := os.Getenv("HOME"); h != "" {
		home = h
	}
	var opts []sftp.ServerOption
	if home != "" {
		opts = append(opts, sftp.WithServerWorkingDirectory(home))
	}
	srv, err := sftp.NewServer(struct {
		io.Reader
		io.WriteCloser
	}{os.Stdin, os.Stdout}, opts...)
	if err != nil {
		return err
	}
	if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
