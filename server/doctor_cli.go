package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/server/internal/daemon"
	"github.com/wirefleet/wirefleet/server/internal/doctor"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// errUnhealthy makes doctor exit 1 after printing its findings.
var errUnhealthy = errors.New("doctor: some checks failed (see above)")

func doctorCmd() *cobra.Command {
	var dataDir, tlsCert string
	var asJSON bool
	var maxAge time.Duration
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check a running installation and say what to fix",
		Long: `Check the running server (over its admin socket), the database (read-only:
schema version and SQLite's quick_check), free disk space, the TLS
certificate's expiry, the release keys' permissions, whether the server's own
secrets are sealed and how old they are, the open-file limit
against the fleet's size, and the agents' clocks against the server's.
Exits 1 when a check fails; warnings are printed with what to do.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := doctor.Input{DataDir: dataDir, TLSCert: tlsCert, Known: store.KnownSchema(), Now: time.Now(), MaxSecretAge: maxAge}
			in.Client, in.ClientErr = daemon.Client(dataDir)
			ctx, cancel := ctx()
			defer cancel()
			checks := doctor.Run(ctx, in)
			out := cmd.OutOrStdout()
			failed := false
			for _, c := range checks {
				failed = failed || c.Status == doctor.Fail
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(checks); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(out, 0, 4, 1, ' ', 0)
				for _, c := range checks {
					mark := map[string]string{doctor.OK: "ok", doctor.Warn: "WARN", doctor.Fail: "FAIL"}[c.Status]
					fmt.Fprintf(tw, "%s\t%s:\t%s\n", mark, c.Name, c.Detail)
					if c.Fix != "" {
						fmt.Fprintf(tw, "\t\t→ %s\n", c.Fix)
					}
				}
				tw.Flush()
			}
			if failed {
				cmd.SilenceErrors = true
				fmt.Fprintln(cmd.ErrOrStderr(), strings.TrimPrefix(errUnhealthy.Error(), "doctor: "))
				return errUnhealthy
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir, "the server's data directory")
	cmd.Flags().StringVar(&tlsCert, "tls-cert", "", "the serving certificate, when not the data directory's tls.crt")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().DurationVar(&maxAge, "max-secret-age", daemon.DefaultMaxSecretAge, "warn about secrets not rotated for this long")
	return cmd
}
