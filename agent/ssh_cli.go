package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/agent/internal/control"
	"github.com/wirefleet/wirefleet/agent/internal/engine"
	"github.com/wirefleet/wirefleet/agent/internal/sshd"
)

// sshCmd is a convenience over OpenSSH's client: `wirefleet-agent ssh
// [USER@]NAME [COMMAND…]` runs `ssh USER@NAME.<fleet domain>` with the
// host keys it has seen kept apart from the user's known_hosts. Plain
// `ssh USER@NAME.<fleet domain>` works as well: the server needs no
// client plugin.
func sshCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ssh [USER@]NAME [COMMAND…]",
		Short: "Log in to a machine of the fleet over the overlay (as the policy's ssh rules allow)",
		Long: `Log in to a machine of the fleet over the overlay: the machine's agent
admits you by this machine's identity and the policy's "ssh" rules — no
SSH keys or passwords. This runs OpenSSH's ssh; plain
'ssh USER@NAME.fleet.internal' works the same.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			user, host, ok := strings.Cut(args[0], "@")
			if !ok {
				host, user = user, ""
			}
			var st engine.Status
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			domain := ""
			serr := control.Status(ctx, g.paths().ControlSocket(), &st)
			if serr == nil && st.DNS != nil {
				domain = st.DNS.Domain
			}
			if !strings.Contains(host, ".") {
				if domain == "" {
					// Not root (the control socket is the administrators'),
					// or names are off: the user says the full name.
					return fmt.Errorf("give the machine's full name, e.g. %s.fleet.internal (the agent's fleet domain cannot be read here: %v)", host, orNoNames(serr))
				}
				host += "." + domain
			}
			target := host
			if user != "" {
				target = user + "@" + host
			}
			bin, err := exec.LookPath("ssh")
			if err != nil {
				return errors.New("OpenSSH's ssh is not installed (Debian: apt install openssh-client)")
			}
			argv := []string{"-o", "StrictHostKeyChecking=accept-new", "-o", "PreferredAuthentications=none,keyboard-interactive"}
			if serr == nil {
				// Fleet host keys apart from the user's own (administrators:
				// the state directory is theirs); others keep ~/.ssh's.
				argv = append(argv, "-o", "UserKnownHostsFile="+filepath.Join(g.paths().State, "ssh_known_hosts"))
			}
			argv = append(argv, target)
			argv = append(argv, args[1:]...)
			c := exec.Command(bin, argv...)
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
			err = c.Run()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				os.Exit(ee.ExitCode()) // ssh's status is the command's
			}
			return err
		},
	}
	cmd.Flags().SetInterspersed(false) // what follows NAME is the command's, dashes and all
	return cmd
}

func orNoNames(err error) error {
	if err == nil {
		return errors.New("the agent answers no fleet names (--accept-dns=false)")
	}
	return err
}

// sshSFTPCmd is what the SSH server runs, as the user, for the sftp
// subsystem.
func sshSFTPCmd() *cobra.Command {
	return &cobra.Command{
		Use: "ssh-sftp-server", Hidden: true, Args: cobra.NoArgs,
		Short: "Serve SFTP on stdin/stdout (the SSH server runs this as the logged-in user)",
		RunE: func(*cobra.Command, []string) error {
			if err := sshd.ServeSFTP(); err != nil {
				return fmt.Errorf("sftp: %w", err)
			}
			return nil
		},
	}
}
