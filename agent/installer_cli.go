package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/agent/internal/engine"
	"github.com/wirefleet/wirefleet/agent/internal/keystore"
	"github.com/wirefleet/wirefleet/agent/internal/paths"
)

// installerMarker names the file that says the running installation
// enrolled this machine (rather than finding it enrolled), so that its
// rollback undoes exactly that.
const installerMarker = "installer-enrolled"

// installerCmd groups the steps a package manager runs: the MSI's custom
// actions (enroll, rollback, commit, uninstall) and the Linux packages'
// purge. They are safe to repeat: an installer may run them again after
// a failure.
func installerCmd(g *globals) *cobra.Command {
	root := &cobra.Command{Use: "installer", Hidden: true, Short: "Steps installers run: enroll, rollback, commit, uninstall"}
	var o engine.EnrollOptions
	enroll := &cobra.Command{
		Use:   "enroll --server URL --token wfe_…",
		Short: "Enroll unless already enrolled with this server (another server, or --force: enroll again)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Server == "" || o.Token == "" {
				return errors.New("--server and --token are required")
			}
			p := g.paths()
			ks, err := openKeystore(p, g.logger())
			if err != nil {
				return err
			}
			o.Version, o.KeepSameServer = Version, true
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cfg, err := engine.Enroll(ctx, p, ks, o)
			if errors.Is(err, engine.ErrKept) {
				fmt.Fprintf(cmd.OutOrStdout(), "already enrolled with %s as %s; enrollment kept (FORCE=1 enrolls again)\n", cfg.Server, cfg.Name)
				return nil
			}
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(p.State, installerMarker), []byte(cfg.MachineID+"\n"), 0o600); err != nil {
				return fmt.Errorf("enrolled as %s, but cannot note it for a rollback: %w", cfg.Name, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "enrolled as %s (%s); secrets in the %s keystore\n", cfg.Name, cfg.IPv4, ks.Backend())
			return nil
		},
	}
	f := enroll.Flags()
	f.StringVar(&o.Server, "server", "", "server URL")
	f.StringVar(&o.Token, "token", os.Getenv("WIREFLEET_TOKEN"), "enrollment token (wfe_…)")
	f.StringVar(&o.Pin, "pin", "", "pin of the server's certificate (sha256/…)")
	f.BoolVar(&o.Force, "force", false, "enroll again even when enrolled with this server")

	rollback := &cobra.Command{
		Use:   "rollback",
		Short: "Undo an enrollment made by an installation that failed (the server is told)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := g.paths()
			marker := filepath.Join(p.State, installerMarker)
			if _, err := os.Stat(marker); err != nil {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to roll back: this installation did not enroll")
				return nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := offlineLogout(ctx, g, p)
			if rerr := os.Remove(marker); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "enrollment rolled back: the server was told, secrets wiped")
			return nil
		},
	}
	commit := &cobra.Command{
		Use:   "commit",
		Short: "The installation succeeded: its enrollment stays",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := os.Remove(filepath.Join(g.paths().State, installerMarker))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			return nil
		},
	}
	var unenroll bool
	uninstall := &cobra.Command{
		Use:   "uninstall [--unenroll]",
		Short: "Remove secrets and state; with --unenroll also tell the server this machine left",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := g.paths()
			var told error
			if unenroll {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				told = offlineLogout(ctx, g, p)
				cancel()
			}
			if err := removeState(g, p); err != nil {
				return err
			}
			if told != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "state removed; %v\n", told)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "secrets and state removed")
			return nil
		},
	}
	uninstall.Flags().BoolVar(&unenroll, "unenroll", false, "tell the server this machine left (it is revoked); without it the machine stays listed until an admin removes it")
	root.AddCommand(enroll, rollback, commit, uninstall)
	return root
}

// removeState wipes the keystore and removes every file the agent keeps,
// the previous binary a self-update left beside this one, and the state
// directories when that leaves them empty.
func removeState(g *globals, p paths.Paths) error {
	// The resolver configuration first: its record is in the state dir.
	errs := []error{dnsManager(p, g.logger()).Restore()}
	if ks, err := keystore.Open(p.State, g.logger()); err == nil {
		errs = append(errs, engine.Logout(p, ks))
	} else {
		errs = append(errs, err)
	}
	// engine.Logout removed the config and the map cache.
	for _, f := range []string{p.FlagCache(), p.HealthQueue(), filepath.Join(p.State, installerMarker), executable() + ".old"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, os.RemoveAll(p.UpdateDir()), os.RemoveAll(filepath.Join(p.State, "dns")))
	for _, d := range []string{filepath.Join(p.State, "secrets"), p.State, p.Config} {
		os.Remove(d) // only when empty
	}
	return errors.Join(errs...)
}
